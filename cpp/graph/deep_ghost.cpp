// lmpflow: the deep-ghost graph layout (see deep_ghost.h).
#include "graph/deep_ghost.h"

using namespace LAMMPS_NS;

namespace lmpflow {

void DeepGhostGraph::add_nodes_and_edges(NeighList *list, Graph &graph)
{
  for (int ii = 0; ii < list->inum; ii++)
    if (type_map[atom->type[list->ilist[ii]]] >= 0) add_node(list->ilist[ii], graph);
  // Breadth-first over edges: the nodes added while visiting hop h are at hop h + 1. Pruning by hops,
  // not by distance, leaves out the ghosts no message path reaches and the edges of the outermost hop.
  std::vector<int64_t> neighbours;
  int begin = 0, end = node_atom().size();
  for (int hop = 0; hop < layers; hop++) {
    for (int k = begin; k < end; k++)
      for_each_model_neighbor(list, node_atom()[k], [&](int j) {
        graph.edges.push_back(k);
        neighbours.push_back(add_node(j, graph));
      });
    begin = end;
    end = node_atom().size();
  }
  graph.n_edges = neighbours.size();
  graph.edges.insert(graph.edges.end(), neighbours.begin(), neighbours.end());
}

}    // namespace lmpflow
