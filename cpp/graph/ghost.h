// lmpflow: the ghost layout (Allegro). Owned atoms are the centres; ghost neighbours become extra
// nodes whose forces LAMMPS sends back to their owners (newton on), so any rank count works.
#ifndef LMPFLOW_GHOST_H
#define LMPFLOW_GHOST_H

#include "graph/graph_builder.h"

namespace lmpflow {

class GhostGraph : public GraphBuilder {
 public:
  // edges_on_device: every owned and ghost atom is a node and the backend finds the edges ('edges gpu')
  GhostGraph(LAMMPS_NS::LAMMPS *lmp, const std::vector<int> &type_map, const std::vector<double> &cutsq,
             bool edges_on_device) :
      GraphBuilder(lmp, type_map, cutsq), edges_on_device(edges_on_device)
  {
  }

 protected:
  const bool edges_on_device;
  void add_nodes_and_edges(LAMMPS_NS::NeighList *list, Graph &graph) override;
};

}    // namespace lmpflow
#endif
