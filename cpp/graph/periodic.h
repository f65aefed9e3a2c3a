// lmpflow: the periodic layout (NequIP on one rank). Only owned atoms are nodes; a ghost neighbour is
// its owner plus an integer cell shift, so the graph is the exact periodic system and message passing
// reaches every image correctly. Needs every atom owned by this rank.
#ifndef LMPFLOW_PERIODIC_H
#define LMPFLOW_PERIODIC_H

#include "graph/graph_builder.h"

namespace lmpflow {

class PeriodicGraph : public GraphBuilder {
 public:
  using GraphBuilder::GraphBuilder;

 protected:
  std::vector<int> tag_owner;    // atom tag -> owned atom index
  void add_nodes_and_edges(LAMMPS_NS::NeighList *list, Graph &graph) override;
};

}    // namespace lmpflow
#endif
