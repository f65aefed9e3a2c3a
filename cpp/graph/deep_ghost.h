// lmpflow: the deep-ghost layout (message-passing NequIP on any number of MPI ranks). With L layers an
// owned atom's energy depends on atoms up to L edges away, so the graph holds every atom within L edges
// of an owned one (LAMMPS ghosts out to L cutoffs + skin) and the edges centred on atoms within L - 1
// edges. The model sums owned atoms' energies only; its forces on ghost nodes go back to their owners
// (newton on). Exact for any rank count, domain shape and cell size.
#ifndef LMPFLOW_DEEP_GHOST_H
#define LMPFLOW_DEEP_GHOST_H

#include "graph/graph_builder.h"

namespace lmpflow {

class DeepGhostGraph : public GraphBuilder {
 public:
  // layers: message-passing layers of the model (>= 1); the list must hold neighbours of ghosts too
  DeepGhostGraph(LAMMPS_NS::LAMMPS *lmp, const std::vector<int> &type_map, const std::vector<double> &cutsq,
                 int layers) :
      GraphBuilder(lmp, type_map, cutsq), layers(layers)
  {
  }

 protected:
  const int layers;
  void add_nodes_and_edges(LAMMPS_NS::NeighList *list, Graph &graph) override;
};

}    // namespace lmpflow
#endif
