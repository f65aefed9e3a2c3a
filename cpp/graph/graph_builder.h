// lmpflow: building a model graph from a rank's LAMMPS atoms and full neighbour list. Each layout
// (graph.h) is one subclass in its own file; make_graph_builder picks it.
#ifndef LMPFLOW_GRAPH_BUILDER_H
#define LMPFLOW_GRAPH_BUILDER_H

#include "graph/graph.h"

#include "atom.h"
#include "neigh_list.h"
#include "pointers.h"

#include <memory>
#include <vector>

namespace lmpflow {

class GraphBuilder : protected LAMMPS_NS::Pointers {
 public:
  // type_map: LAMMPS type -> model type index, -1 for NULL; cutsq: (ntypes+1)^2 squared model
  // cutoffs in Å^2 per LAMMPS type pair, row = centre type, 0 for unmapped pairs.
  GraphBuilder(LAMMPS_NS::LAMMPS *lmp, const std::vector<int> &type_map, const std::vector<double> &cutsq);
  virtual ~GraphBuilder() = default;

  // Rebuilds `graph` for the current step. Owned atoms come first: nodes [0, n_owned()).
  void build(LAMMPS_NS::NeighList *list, Graph &graph);
  int n_owned() const { return n_owned_; }
  // graph node -> LAMMPS atom index (owned or ghost), where the node's force and energy go
  const std::vector<int> &node_atom() const { return node_atom_; }

 protected:
  const std::vector<int> type_map;
  const std::vector<double> cutsq;

  virtual void add_nodes_and_edges(LAMMPS_NS::NeighList *list, Graph &graph) = 0;
  int add_node(int i, Graph &graph);
  int node_of(int i) const { return atom_node_[i]; }
  template <class Visit> void for_each_model_pair(LAMMPS_NS::NeighList *list, Visit &&visit);
  template <class Visit> void for_each_model_neighbor(LAMMPS_NS::NeighList *list, int i, Visit &&visit);

 private:
  std::vector<int> node_atom_;
  std::vector<int> atom_node_;    // LAMMPS atom index -> graph node, -1 if absent
  int n_owned_ = 0;
};

// Calls visit(i, j) for every owned centre i and neighbour j (owned or ghost) of mapped types closer
// than the model's cutoff for their type pair (the list also holds pairs out to cutoff + skin).
template <class Visit> void GraphBuilder::for_each_model_pair(LAMMPS_NS::NeighList *list, Visit &&visit)
{
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    if (type_map[atom->type[i]] >= 0) for_each_model_neighbor(list, i, [&](int j) { visit(i, j); });
  }
}

// Calls visit(j) for every neighbour j of atom i (owned, or ghost with a ghost list) within the model's
// cutoff; i must be of a mapped type.
template <class Visit>
void GraphBuilder::for_each_model_neighbor(LAMMPS_NS::NeighList *list, int i, Visit &&visit)
{
  double **x = atom->x;
  const int *type = atom->type;
  const int ncols = atom->ntypes + 1;
  const int *jlist = list->firstneigh[i];
  for (int jj = 0; jj < list->numneigh[i]; jj++) {
    const int j = jlist[jj] & NEIGHMASK;
    if (type_map[type[j]] < 0) continue;
    const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
    if (dx * dx + dy * dy + dz * dz < cutsq[type[i] * ncols + type[j]]) visit(j);
  }
}

// The builder for `layout`. device_edges (ghost layout only): every owned and ghost atom becomes a
// node and the edges are left to the backend's device ('edges gpu'). layers (deep_ghost layout): the
// model's message-passing layers, i.e. how many edges away from an owned atom its energy reaches.
std::unique_ptr<GraphBuilder> make_graph_builder(Layout layout, bool device_edges, int layers,
                                                 LAMMPS_NS::LAMMPS *lmp, const std::vector<int> &type_map,
                                                 const std::vector<double> &cutsq);

}    // namespace lmpflow
#endif
