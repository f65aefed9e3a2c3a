// lmpflow: the seam between the pair styles and the ML frameworks. A backend opens one kind of model
// file and evaluates graphs. No torch here: the pair styles and the CUDA units include this header.
#ifndef LMPFLOW_BACKEND_H
#define LMPFLOW_BACKEND_H

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

class Backend {
 public:
  virtual ~Backend() = default;

  // Per-node energies, forces and the virial of `graph`; nodes [0, n_owned) are this rank's own
  // atoms, the rest ghosts (for models that mask or tag ghost nodes).
  virtual void evaluate(const Graph &graph, int64_t n_owned, Result &result) = 0;
  // 'edges gpu': `graph` holds every owned and ghost atom and no edges; the backend finds the edges
  // from the n_owned owned atoms within cutoffs() on its device.
  virtual void evaluate_device_edges(const Graph &graph, int64_t n_owned, Result &result);
  // How a file of this kind is made for `layout` (nequip: "nequip-compile --target pair_allegro"),
  // for the errors that refuse a file compiled for other layouts than the pair style can build.
  virtual std::string compile_command(Layout layout) const = 0;

  // Model species; index = model type in Graph::types.
  const std::vector<std::string> &type_names() const { return type_names_; }
  // (n_types x n_types) cutoffs in Å, row = centre type, column = neighbour type.
  const std::vector<double> &cutoffs() const { return cutoffs_; }
  double r_max() const { return r_max_; }
  // The graph layouts the file can be evaluated in, fixed when it was compiled (nequip: pair_allegro
  // files {ghost}, pair_nequip {periodic}, lmpflow_nequip {periodic, deep_ghost}; TorchScript files
  // {periodic, ghost}; MACE {periodic, deep_ghost}).
  const std::vector<Layout> &layouts() const { return layouts_; }
  // Message-passing layers: an owned atom's energy depends on atoms up to this many edges away (the
  // deep_ghost layout's depth). 0 when the file does not say.
  int message_passing_layers() const { return message_passing_layers_; }
  // The framework that made the file ("nequip", "mace"): each pair style runs one framework's files.
  const std::string &framework() const { return framework_; }
  // What the file holds, for the log: "NequIP", "Allegro", "TorchScript", "MACE", ...
  const std::string &kind() const { return kind_; }
  const std::string &dtype() const { return dtype_; }
  const std::string &device() const { return device_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  // What the user should know about how the file runs here (the pair style logs them as warnings).
  const std::vector<std::string> &warnings() const { return warnings_; }

 protected:
  std::vector<std::string> type_names_;
  std::vector<double> cutoffs_;
  double r_max_ = 0.0;
  std::vector<Layout> layouts_;
  int message_passing_layers_ = 0;
  std::string framework_, kind_, dtype_, device_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> warnings_;
};

// Opens `path` with the backend for its kind of file (the table in backend.cpp). device: "cpu",
// "cuda", "cuda:N" or "" (the device the file was compiled for); threads: intra-op threads, 0 = default.
std::unique_ptr<Backend> open_backend(const std::string &path, const std::string &device, int threads);

// The error for a model source that must be compiled first (what: "an uncompiled nequip package", ...).
ModelError must_compile(const std::string &path, const std::string &what);

}    // namespace lmpflow
#endif
