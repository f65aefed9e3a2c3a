// lmpflow: a nequip-compiled model (AOTInductor .nequip.pt2 or TorchScript .nequip.pth) behind a
// torch-free interface, so the pair styles compile without torch headers.
#ifndef LMPFLOW_MODEL_H
#define LMPFLOW_MODEL_H

#include "graph/graph.h"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lmpflow {

// Thrown for every problem with the model file or its use; the pair style turns it into a LAMMPS error.
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Model {
 public:
  // Loads `path`, reading its metadata. device: "cpu", "cuda", "cuda:N" or "" (= device it was compiled for).
  Model(const std::string &path, const std::string &device, int threads);
  ~Model();

  void evaluate(const Graph &graph, Result &result);
#ifdef LMPFLOW_CUDA
  // Allegro layout with the edges found on the GPU: `graph` holds positions and types of all owned
  // (first n_centres) and ghost atoms; its edge fields are ignored.
  void evaluate_gpu_edges(const Graph &graph, int n_centres, Result &result);
#endif

  const std::vector<std::string> &type_names() const { return type_names_; }
  double r_max() const { return r_max_; }
  // (num_types x num_types) cutoffs in Å, row = centre type, column = neighbour type.
  const std::vector<double> &cutoffs() const { return cutoffs_; }
  // AOTInductor packages fix the graph layout at compile time: with a cell (pair_nequip target) or
  // with ghost atoms and no cell (pair_allegro target). TorchScript models accept either.
  bool fixed_layout() const;
  bool needs_cell() const { return needs_cell_; }
  const std::string &dtype() const { return dtype_; }
  const std::string &device() const { return device_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> type_names_;
  std::vector<double> cutoffs_;
  double r_max_ = 0.0;
  bool needs_cell_ = false;
  std::string dtype_, device_;

  void read_metadata(const std::string &path);
};

}    // namespace lmpflow
#endif
