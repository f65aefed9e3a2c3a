// lmpflow: what every libtorch backend does the same way: parse the device keyword, tune the heap, hand the
// model's outputs back to the pair style.
#ifndef LMPFLOW_TORCH_DEVICE_H
#define LMPFLOW_TORCH_DEVICE_H

#include "graph/graph.h"

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

// Copies per-node energies (n_nodes), forces (n_nodes, 3) and the 3x3 virial, on any device and in any
// float dtype, into `result` as float64.
void fill_result(torch::Tensor energy, torch::Tensor forces, torch::Tensor virial, int64_t n_nodes, Result &result);

}    // namespace lmpflow
#endif
