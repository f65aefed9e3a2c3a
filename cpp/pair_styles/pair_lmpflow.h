/* -*- c++ -*- ----------------------------------------------------------
   lmpflow: pair styles for ML force fields; each style builds one graph layout (cpp/graph/) and
   runs the model file's backend (cpp/backends/) on it.

   pair_style lmpflow/nequip  [device cpu|cuda|cuda:N] [threads N] [layout periodic|deep_ghost]
   pair_style lmpflow/allegro [device cpu|cuda|cuda:N] [threads N] [edges cpu|gpu]
   pair_style lmpflow/mace    [device cpu|cuda|cuda:N] [threads N] [layout periodic|deep_ghost]
   pair_coeff * * model.nequip.pt2 Li P S Cl      (one model species, or NULL, per LAMMPS type)
------------------------------------------------------------------------- */
#ifndef LMP_PAIR_LMPFLOW_H
#define LMP_PAIR_LMPFLOW_H

#include "pair.h"

#include "graph/graph.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lmpflow {
class Backend;
class GraphBuilder;
}    // namespace lmpflow

namespace LAMMPS_NS {

class PairLMPFlow : public Pair {
 public:
  PairLMPFlow(class LAMMPS *, const std::string &framework, const std::vector<lmpflow::Layout> &layouts);
  ~PairLMPFlow() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void *extract(const char *, int &) override;

 protected:
  const std::string framework;    // whose model files this style runs (Backend::framework)
  // The graphs this style builds (its row of the style table), preferred first on one rank; those of
  // them the model file runs in; the one this run builds (chosen in init_style, or by 'layout').
  const std::vector<lmpflow::Layout> style_layouts;
  std::vector<lmpflow::Layout> model_layouts;
  lmpflow::Layout layout;
  std::optional<lmpflow::Layout> user_layout;
  double ghost_cutoff_set = 0.0;     // comm->cutghostuser as this style last set it (deep_ghost)
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
  double graph_size[3] = {0, 0, 0};  // last graph's owned nodes, nodes, edges (extract_pair "graph_*")

  void choose_layout();
  void set_ghost_cutoff();
  void check_neighbor_options();
};

// The lmpflow style that runs `framework`'s files in `layout` (from the style table in lmpflow_plugin.cpp).
const char *lmpflow_style(const std::string &framework, lmpflow::Layout layout);

}    // namespace LAMMPS_NS

#endif
