// lmpflow: the periodic graph layout (see periodic.h).
#include "graph/periodic.h"

#include "domain.h"
#include "error.h"
#include "force.h"
#include "neighbor.h"

#include <algorithm>
#include <cmath>

using namespace LAMMPS_NS;

namespace lmpflow {

void PeriodicGraph::map_owners()
{
  const tagint *tag = atom->tag;
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  owned_index.clear();
  owned_index.reserve(nlocal);
  for (int i = 0; i < nlocal; i++) owned_index.emplace(tag[i], i);
  atom_owner.resize(nall);
  for (int i = 0; i < nall; i++) {
    const auto it = owned_index.find(tag[i]);
    atom_owner[i] = it == owned_index.end() ? -1 : it->second;
  }
}

int PeriodicGraph::owner_of(int j)
{
  const tagint *tag = atom->tag;
  int o = atom_owner[j];
  if (o < 0 || o >= atom->nlocal || tag[o] != tag[j]) {
    map_owners();
    o = atom_owner[j];
  }
  if (o < 0) error->one(FLERR, "{}: ghost atom {} has no owned copy", force->pair_style, tag[j]);
  return o;
}

void PeriodicGraph::add_nodes_and_edges(NeighList *list, Graph &graph)
{
  double **x = atom->x;
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  const double *h_inv = domain->h_inv;
  if (neighbor->ago == 0 || (int) atom_owner.size() != nall) map_owners();

  for (int ii = 0; ii < list->inum; ii++)
    if (type_map[atom->type[list->ilist[ii]]] >= 0) add_node(list->ilist[ii], graph);

  std::vector<int64_t> neighbours;
  std::vector<double> &shifts = graph.cell_shifts;
  for_each_model_pair(list, [&](int i, int j) {
    const int owner = j < nlocal ? j : owner_of(j);
    // image shift s solves x_j - x_owner = s . cell (fractional coordinates of the difference)
    const double d0 = x[j][0] - x[owner][0], d1 = x[j][1] - x[owner][1], d2 = x[j][2] - x[owner][2];
    shifts.insert(shifts.end(), {std::round(h_inv[0] * d0 + h_inv[5] * d1 + h_inv[4] * d2),
                                 std::round(h_inv[1] * d1 + h_inv[3] * d2), std::round(h_inv[2] * d2)});
    graph.edges.push_back(node_of(i));
    neighbours.push_back(node_of(owner));
  });
  graph.n_edges = neighbours.size();
  graph.edges.insert(graph.edges.end(), neighbours.begin(), neighbours.end());
}

}    // namespace lmpflow
