// lmpflow: the graph a model sees and what it returns. Plain C++ (no torch, no LAMMPS), shared by
// the graph layouts that build it and the backends that evaluate it.
#ifndef LMPFLOW_GRAPH_H
#define LMPFLOW_GRAPH_H

#include <cstdint>
#include <vector>

namespace lmpflow {

// How a rank's atoms become graph nodes and edges (cpp/graph/ has one file per layout).
//   ghost:    owned + ghost atoms, edges from owned atoms; strictly local models, any rank count.
//   periodic: owned atoms only, a ghost neighbour is its owner + an integer cell shift; the exact
//             periodic system for message passing, on one rank.
//   deep_ghost: owned atoms + ghosts out to L cutoffs (L message-passing layers), edges centred on every
//             node that messages to owned atoms pass through; the model sums owned atoms' energies only
//             and ghost forces go back to their owners: message passing on any rank count.
enum class Layout { ghost, periodic, deep_ghost };

// Layouts whose graph is only correct when this rank owns every atom.
inline bool one_rank_only(Layout layout) { return layout == Layout::periodic; }

// The name of a layout in the pair_style 'layout' keyword, in model metadata and in messages.
inline const char *layout_name(Layout layout)
{
  switch (layout) {
    case Layout::ghost:
      return "ghost";
    case Layout::periodic:
      return "periodic";
    case Layout::deep_ghost:
      return "deep_ghost";
  }
  return "?";
}

// One graph in the layout nequip's LAMMPS targets expect (all float64 / int64, row-major).
struct Graph {
  std::vector<double> pos;          // (n_nodes, 3) Å
  std::vector<int64_t> types;       // (n_nodes) 0-based model type index
  std::vector<int64_t> edges;       // (2, n_edges): row 0 = centres, row 1 = neighbours
  std::vector<double> cell_shifts;  // (n_edges, 3) integer-valued, NequIP target only
  double cell[9] = {0};             // rows a, b, c in Å, NequIP target only
  int64_t n_nodes = 0, n_edges = 0;
};

struct Result {
  std::vector<double> atomic_energy;  // (n_nodes) eV
  std::vector<double> forces;         // (n_nodes, 3) eV/Å
  double virial[9] = {0};             // -dE/d(strain), eV
};

}    // namespace lmpflow
#endif
