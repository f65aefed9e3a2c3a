// lmpflow: the periodic layout (NequIP on one rank). Only owned atoms are nodes; a ghost neighbour is
// its owner plus an integer cell shift, so the graph is the exact periodic system and message passing
// reaches every image correctly. Needs every atom owned by this rank.
#ifndef LMPFLOW_PERIODIC_H
#define LMPFLOW_PERIODIC_H

#include "graph/graph_builder.h"

#include "lmptype.h"

#include <unordered_map>

namespace lmpflow {

class PeriodicGraph : public GraphBuilder {
 public:
  using GraphBuilder::GraphBuilder;

 protected:
  // Owned atom index of every owned or ghost atom, -1 if none. Ghost indices only change when LAMMPS
  // rebuilds its neighbour lists, so this is remade then (and whenever a lookup finds it stale).
  std::vector<int> atom_owner;
  std::unordered_map<LAMMPS_NS::tagint, int> owned_index;    // by atom ID: sized by the atom count, not the IDs
  void map_owners();
  int owner_of(int j);
  void add_nodes_and_edges(LAMMPS_NS::NeighList *list, Graph &graph) override;
};

}    // namespace lmpflow
#endif
