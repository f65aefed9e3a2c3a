// lmpflow: GPU edge-list construction for the ghost graph layout (owned + ghost atoms, Allegro).
// Plain C++ interface over raw device pointers, so no torch header is ever compiled by nvcc.
#ifndef LMPFLOW_EDGES_CUDA_H
#define LMPFLOW_EDGES_CUDA_H

#include <cstdint>

namespace lmpflow {
namespace cuda {

// Finds every pair (i, j), i < n_centres (owned atoms), j < n_all (owned + ghost), j != i, with
// |x_j - x_i|^2 < cutsq[type_i * n_types + type_j], using a uniform cell list built on the GPU.
// Positions are explicit (ghosts included), so no periodic wrapping is done here.
// All pointers are device pointers; the builder keeps its scratch buffers across calls.
class EdgeBuilder {
 public:
  EdgeBuilder();
  ~EdgeBuilder();
  EdgeBuilder(const EdgeBuilder &) = delete;
  EdgeBuilder &operator=(const EdgeBuilder &) = delete;

  // Returns the number of edges E; edges() then points to (2, E) int64 on the device:
  // centres in [0, E), neighbours in [E, 2E). The pointer stays valid until the next build().
  // lo/hi: bounding box of the n_all positions (Å); cutsq_host: (n_types^2) squared cutoffs on the host.
  int64_t build(const double *pos, const int64_t *types, int n_centres, int n_all, const double lo[3],
                const double hi[3], const double *cutsq_host, int n_types, double max_cutoff, void *stream);
  const int64_t *edges() const { return edges_; }

 private:
  template <typename T> void reserve(T *&ptr, int64_t &capacity, int64_t n);
  int *cell_of_ = nullptr, *cell_start_ = nullptr, *sorted_ = nullptr, *counts_ = nullptr;
  int64_t *offsets_ = nullptr, *edges_ = nullptr;
  double *cutsq_ = nullptr;
  int64_t cap_atoms_ = 0, cap_cells_ = 0, cap_edges_ = 0, cap_offsets_ = 0, cap_cutsq_ = 0;
  int64_t cap_sorted_ = 0, cap_counts_ = 0;
  void *scan_tmp_ = nullptr;
  size_t scan_tmp_bytes_ = 0;
};

}    // namespace cuda
}    // namespace lmpflow

#endif
