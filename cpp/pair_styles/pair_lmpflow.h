/* -*- c++ -*- ----------------------------------------------------------
   lmpflow: pair styles for ML force fields; each style builds one graph layout (cpp/graph/) and
   runs the model file's backend (cpp/backends/) on it.

   pair_style lmpflow/nequip  [device cpu|cuda|cuda:N] [threads N]
   pair_style lmpflow/allegro [device cpu|cuda|cuda:N] [threads N] [edges cpu|gpu]
   pair_coeff * * model.nequip.pt2 Li P S Cl      (one model species, or NULL, per LAMMPS type)
------------------------------------------------------------------------- */
#ifndef LMP_PAIR_LMPFLOW_H
#define LMP_PAIR_LMPFLOW_H

#include "pair.h"

#include "graph/graph.h"

#include <memory>
#include <string>
#include <vector>

namespace lmpflow {
class Backend;
class GraphBuilder;
}    // namespace lmpflow

namespace LAMMPS_NS {

class PairLMPFlow : public Pair {
 public:
  PairLMPFlow(class LAMMPS *, lmpflow::Layout layout);
  ~PairLMPFlow() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void *extract(const char *, int &) override;

 protected:
  const lmpflow::Layout layout;     // the graph this style builds (its row of the style table)
  std::string device;
  int threads = 0;
  bool gpu_edges = false;            // ghost layout on CUDA: find edges with lmpflow's GPU cell list
  std::string model_path;
  std::unique_ptr<lmpflow::Backend> backend;
  std::unique_ptr<lmpflow::GraphBuilder> graph_builder;
  std::vector<int> type_map;         // LAMMPS type -> model type index, -1 for NULL
  std::vector<double> model_cutsq;   // (ntypes+1)^2, Å^2, 0 for unmapped pairs
  lmpflow::Graph graph;
  lmpflow::Result result;
  double compute_seconds = 0.0;      // wall time in compute(), and the model's share of it
  double model_seconds = 0.0;        // (extract_pair "compute_seconds" / "model_seconds")

  void check_neighbor_options();
};

// The lmpflow style that builds `layout` (from the style table in lmpflow_plugin.cpp).
const char *lmpflow_style(lmpflow::Layout layout);

}    // namespace LAMMPS_NS

#endif
