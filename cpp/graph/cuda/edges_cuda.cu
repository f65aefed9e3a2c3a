// lmpflow: GPU cell-list edge construction (see edges_cuda.h).
#include "edges_cuda.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lmpflow {
namespace cuda {
namespace {

void check(cudaError_t status, const char *what)
{
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}

struct Grid {
  double lo[3];
  double inv_size[3];
  int n[3];
};

__device__ inline int cell_coord(double x, double lo, double inv, int n)
{
  int c = static_cast<int>(floor((x - lo) * inv));
  return c < 0 ? 0 : (c >= n ? n - 1 : c);
}

__global__ void assign_cells(const double *pos, int n_all, Grid g, int *cell_of, int *atom_ids)
{
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_all) return;
  const int cx = cell_coord(pos[3 * i], g.lo[0], g.inv_size[0], g.n[0]);
  const int cy = cell_coord(pos[3 * i + 1], g.lo[1], g.inv_size[1], g.n[1]);
  const int cz = cell_coord(pos[3 * i + 2], g.lo[2], g.inv_size[2], g.n[2]);
  cell_of[i] = (cz * g.n[1] + cy) * g.n[0] + cx;
  atom_ids[i] = i;
}

// cell_start[c] .. cell_start[c + n_cells] hold [start, end) of cell c in the sorted order.
__global__ void find_cell_ranges(const int *sorted_cells, int n_all, int n_cells, int *cell_start)
{
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= n_all) return;
  const int c = sorted_cells[k];
  if (k == 0 || sorted_cells[k - 1] != c) cell_start[c] = k;
  if (k == n_all - 1 || sorted_cells[k + 1] != c) cell_start[n_cells + c] = k + 1;
}

// One thread per centre; with `edges` null it only counts, otherwise it writes from offsets[i].
__global__ void visit_pairs(const double *pos, const int64_t *types, int n_centres, Grid g, const int *cell_start,
                            const int *sorted_atoms, const double *cutsq, int n_types, int n_cells,
                            int *counts, const int64_t *offsets, int64_t *edges, int64_t n_edges)
{
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_centres) return;
  const double xi = pos[3 * i], yi = pos[3 * i + 1], zi = pos[3 * i + 2];
  const int64_t ti = types[i];
  const int cx = cell_coord(xi, g.lo[0], g.inv_size[0], g.n[0]);
  const int cy = cell_coord(yi, g.lo[1], g.inv_size[1], g.n[1]);
  const int cz = cell_coord(zi, g.lo[2], g.inv_size[2], g.n[2]);
  int found = 0;
  for (int dz = -1; dz <= 1; dz++) {
    const int z = cz + dz;
    if (z < 0 || z >= g.n[2]) continue;
    for (int dy = -1; dy <= 1; dy++) {
      const int y = cy + dy;
      if (y < 0 || y >= g.n[1]) continue;
      for (int dx = -1; dx <= 1; dx++) {
        const int x = cx + dx;
        if (x < 0 || x >= g.n[0]) continue;
        const int c = (z * g.n[1] + y) * g.n[0] + x;
        const int start = cell_start[c], end = cell_start[n_cells + c];
        for (int k = start; k < end; k++) {
          const int j = sorted_atoms[k];
          if (j == i) continue;
          const double ddx = pos[3 * j] - xi, ddy = pos[3 * j + 1] - yi, ddz = pos[3 * j + 2] - zi;
          if (ddx * ddx + ddy * ddy + ddz * ddz >= cutsq[ti * n_types + types[j]]) continue;
          if (edges) {
            const int64_t slot = offsets[i] + found;
            edges[slot] = i;
            edges[n_edges + slot] = j;
          }
          found++;
        }
      }
    }
  }
  if (!edges) counts[i] = found;
}

inline int blocks(int64_t n, int threads) { return static_cast<int>((n + threads - 1) / threads); }

}    // namespace

EdgeBuilder::EdgeBuilder() = default;

EdgeBuilder::~EdgeBuilder()
{
  for (void *p : {(void *) cell_of_, (void *) cell_start_, (void *) sorted_, (void *) counts_, (void *) offsets_,
                  (void *) edges_, (void *) cutsq_, scan_tmp_})
    if (p) cudaFree(p);
}

template <typename T> void EdgeBuilder::reserve(T *&ptr, int64_t &capacity, int64_t n)
{
  if (n <= capacity && ptr) return;
  if (ptr) check(cudaFree(ptr), "cudaFree");
  capacity = std::max<int64_t>(n + n / 4, 64);    // grow with slack: no reallocation most steps
  check(cudaMalloc(&ptr, capacity * sizeof(T)), "cudaMalloc");
}

int64_t EdgeBuilder::build(const double *pos, const int64_t *types, int n_centres, int n_all,
                           const double lo[3], const double hi[3], const double *cutsq_host, int n_types,
                           double max_cutoff, void *stream_handle)
{
  if (n_centres == 0 || n_all == 0) return 0;
  auto stream = static_cast<cudaStream_t>(stream_handle);
  const int threads = 128;

  // The caller's bounding box of all positions sets the grid (it has the positions on the host).
  Grid g;
  for (int d = 0; d < 3; d++) {
    g.lo[d] = lo[d];
    g.n[d] = std::max(1, std::min(1024, static_cast<int>(std::floor((hi[d] - lo[d]) / max_cutoff))));
    g.inv_size[d] = g.n[d] / std::max(hi[d] - lo[d], 1e-12);
  }
  const int n_cells = g.n[0] * g.n[1] * g.n[2];

  reserve(cutsq_, cap_cutsq_, int64_t(n_types) * n_types);
  check(cudaMemcpyAsync(cutsq_, cutsq_host, sizeof(double) * n_types * n_types, cudaMemcpyHostToDevice, stream),
        "copy cutoffs");
  // cell_of_ holds [cells | sorted cells], sorted_ holds [atom ids | sorted atom ids]
  reserve(cell_of_, cap_atoms_, 2 * int64_t(n_all));
  reserve(sorted_, cap_sorted_, 2 * int64_t(n_all));
  reserve(cell_start_, cap_cells_, 2 * int64_t(n_cells));
  check(cudaMemsetAsync(cell_start_, 0, sizeof(int) * 2 * n_cells, stream), "memset");

  assign_cells<<<blocks(n_all, threads), threads, 0, stream>>>(pos, n_all, g, cell_of_, sorted_);
  // stable radix sort by cell: a deterministic neighbour order, so forces sum in the same order every run
  size_t sort_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, cell_of_, cell_of_ + n_all, sorted_, sorted_ + n_all,
                                  n_all, 0, sizeof(int) * 8, stream);
  reserve(counts_, cap_counts_, n_centres);
  reserve(offsets_, cap_offsets_, n_centres);
  size_t scan_bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, counts_, offsets_, n_centres, stream);
  const size_t need = std::max(sort_bytes, scan_bytes);
  if (need > scan_tmp_bytes_) {
    if (scan_tmp_) check(cudaFree(scan_tmp_), "cudaFree");
    scan_tmp_bytes_ = need + need / 4;
    check(cudaMalloc(&scan_tmp_, scan_tmp_bytes_), "cudaMalloc");
  }
  size_t bytes = scan_tmp_bytes_;
  check(cub::DeviceRadixSort::SortPairs(scan_tmp_, bytes, cell_of_, cell_of_ + n_all, sorted_, sorted_ + n_all,
                                        n_all, 0, sizeof(int) * 8, stream), "sort");
  find_cell_ranges<<<blocks(n_all, threads), threads, 0, stream>>>(cell_of_ + n_all, n_all, n_cells, cell_start_);

  visit_pairs<<<blocks(n_centres, threads), threads, 0, stream>>>(pos, types, n_centres, g, cell_start_,
                                                                  sorted_ + n_all, cutsq_, n_types, n_cells,
                                                                  counts_, nullptr, nullptr, 0);
  bytes = scan_tmp_bytes_;
  check(cub::DeviceScan::ExclusiveSum(scan_tmp_, bytes, counts_, offsets_, n_centres, stream), "scan");
  int64_t last_offset = 0;
  int last_count = 0;
  check(cudaMemcpyAsync(&last_offset, offsets_ + n_centres - 1, sizeof(int64_t), cudaMemcpyDeviceToHost, stream),
        "copy");
  check(cudaMemcpyAsync(&last_count, counts_ + n_centres - 1, sizeof(int), cudaMemcpyDeviceToHost, stream), "copy");
  check(cudaStreamSynchronize(stream), "sync");
  const int64_t n_edges = last_offset + last_count;

  reserve(edges_, cap_edges_, 2 * n_edges);
  visit_pairs<<<blocks(n_centres, threads), threads, 0, stream>>>(pos, types, n_centres, g, cell_start_,
                                                                  sorted_ + n_all, cutsq_, n_types, n_cells,
                                                                  counts_, offsets_, edges_, n_edges);
  check(cudaGetLastError(), "edge kernels");
  return n_edges;
}

}    // namespace cuda
}    // namespace lmpflow
