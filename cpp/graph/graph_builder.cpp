// lmpflow: what every graph layout shares (node bookkeeping, the cell), and the choice of layout.
#include "graph/graph_builder.h"

#include "graph/deep_ghost.h"
#include "graph/ghost.h"
#include "graph/periodic.h"

#include "domain.h"

#include <algorithm>

using namespace LAMMPS_NS;

namespace lmpflow {

GraphBuilder::GraphBuilder(LAMMPS *lmp, const std::vector<int> &type_map, const std::vector<double> &cutsq) :
    Pointers(lmp), type_map(type_map), cutsq(cutsq)
{
}

void GraphBuilder::build(NeighList *list, Graph &graph)
{
  const int nlocal = atom->nlocal;
  graph.pos.clear();
  graph.types.clear();
  graph.edges.clear();
  graph.cell_shifts.clear();
  graph.n_edges = 0;
  node_atom_.clear();
  atom_node_.assign(nlocal + atom->nghost, -1);
  // cell rows a, b, c as nequip expects them: (xprd,0,0), (xy,yprd,0), (xz,yz,zprd)
  const double *h = domain->h;
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  std::copy(cell, cell + 9, graph.cell);
  add_nodes_and_edges(list, graph);
  graph.n_nodes = node_atom_.size();
  n_owned_ = std::count_if(node_atom_.begin(), node_atom_.end(), [nlocal](int i) { return i < nlocal; });
}

int GraphBuilder::add_node(int i, Graph &graph)
{
  if (atom_node_[i] >= 0) return atom_node_[i];
  const int k = node_atom_.size();
  atom_node_[i] = k;
  node_atom_.push_back(i);
  const double *xi = atom->x[i];
  graph.pos.insert(graph.pos.end(), {xi[0], xi[1], xi[2]});
  graph.types.push_back(type_map[atom->type[i]]);
  return k;
}

std::unique_ptr<GraphBuilder> make_graph_builder(Layout layout, bool device_edges, int layers, LAMMPS *lmp,
                                                 const std::vector<int> &type_map, const std::vector<double> &cutsq)
{
  switch (layout) {
    case Layout::ghost:
      return std::make_unique<GhostGraph>(lmp, type_map, cutsq, device_edges);
    case Layout::periodic:
      return std::make_unique<PeriodicGraph>(lmp, type_map, cutsq);
    case Layout::deep_ghost:
      return std::make_unique<DeepGhostGraph>(lmp, type_map, cutsq, layers);
  }
  return nullptr;
}

}    // namespace lmpflow
