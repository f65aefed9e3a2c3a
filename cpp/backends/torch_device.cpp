// lmpflow: device parsing and heap tuning shared by the libtorch backends.
#include "backends/torch_device.h"

#include "backends/backend.h"

#include <algorithm>
#include <cstdlib>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace lmpflow {

torch::Device torch_device(const std::string &name)
{
  torch::Device dev(torch::kCPU);
  try {
    dev = torch::Device(name);
  } catch (const std::exception &) {
    throw ModelError("unknown device '" + name + "': use cpu, cuda or cuda:N");
  }
  if (dev.is_cuda() && !torch::cuda::is_available())
    throw ModelError("device '" + name +
                     "' requested but this libtorch has no usable CUDA device: use 'device cpu' or "
                     "build lmpflow against a CUDA-enabled torch on a GPU node");
  return dev;
}

// The models allocate and free large temporaries every step. glibc serves big blocks with mmap and
// returns them at once, so each step pays hundreds of page faults (measured: ~12 % of a 416-atom NequIP
// step). Keeping freed memory in the heap makes later steps reuse it. A user's MALLOC_* settings win.
void keep_freed_memory_for_reuse()
{
#ifdef __GLIBC__
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return;
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
#endif
}

void release_kept_memory()
{
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

void fill_result(torch::Tensor energy, torch::Tensor forces, torch::Tensor virial, int64_t n_nodes, Result &result)
{
  energy = energy.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  forces = forces.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  virial = virial.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  result.atomic_energy.assign(energy.data_ptr<double>(), energy.data_ptr<double>() + n_nodes);
  result.forces.assign(forces.data_ptr<double>(), forces.data_ptr<double>() + 3 * n_nodes);
  std::copy(virial.data_ptr<double>(), virial.data_ptr<double>() + 9, result.virial);
}

}    // namespace lmpflow
