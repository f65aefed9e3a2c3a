// lmpflow: the ghost graph layout (see ghost.h).
#include "graph/ghost.h"

using namespace LAMMPS_NS;

namespace lmpflow {

void GhostGraph::add_nodes_and_edges(NeighList *list, Graph &graph)
{
  if (edges_on_device) {
    const int nall = atom->nlocal + atom->nghost;
    for (int i = 0; i < nall; i++) add_node(i, graph);
    return;
  }
  for (int ii = 0; ii < list->inum; ii++)
    if (type_map[atom->type[list->ilist[ii]]] >= 0) add_node(list->ilist[ii], graph);
  std::vector<int64_t> neighbours;
  for_each_model_pair(list, [&](int i, int j) {
    graph.edges.push_back(node_of(i));
    neighbours.push_back(add_node(j, graph));
  });
  graph.n_edges = neighbours.size();
  graph.edges.insert(graph.edges.end(), neighbours.begin(), neighbours.end());
}

}    // namespace lmpflow
