// lmpflow: what every libtorch backend does the same way: parse the device keyword and tune the heap.
#ifndef LMPFLOW_TORCH_DEVICE_H
#define LMPFLOW_TORCH_DEVICE_H

#include <torch/torch.h>

#include <string>

namespace lmpflow {

// The torch device named `name` ("cpu", "cuda", "cuda:N"); a ModelError names the fix when it is unknown
// or needs CUDA that this libtorch lacks.
torch::Device torch_device(const std::string &name);

// Keeps freed memory in the heap for the next step's temporaries (see torch_device.cpp).
void keep_freed_memory_for_reuse();

// Hands the memory kept for reuse back to the system (when a model is closed).
void release_kept_memory();

}    // namespace lmpflow
#endif
