// lmpflow: the MACE backend. mace-torch's LAMMPS export (the TorchScript LAMMPS_MACE wrapper) takes a
// graph with periodic image shifts and a 0/1 mask of the owned nodes, and returns the energy of the owned
// nodes with its forces on every node and its virial. So it runs in both message-passing layouts: periodic
// (owned atoms with image shifts, one rank, the smaller graph) and deep_ghost (owned and ghost atoms with
// explicit images and no shifts, any rank count).
#include "backends/mace/mace_backend.h"

#include "backends/model_archive.h"
#include "backends/torch_device.h"

#include <torch/script.h>
#include <torch/torch.h>

namespace lmpflow {
namespace {

// Chemical symbols by atomic number (MACE models carry atomic numbers; pair_coeff names elements).
const char *const kElements[] = {
    "X",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",  "S",
    "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
    "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho",
    "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",  "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po",
    "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md",
    "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
const int kMaxZ = sizeof(kElements) / sizeof(kElements[0]) - 1;

const char *const kExport = "mace-torch's create_lammps_model (lmpflow compile MODEL.model)";

class MaceBackend : public Backend {
 public:
  MaceBackend(const std::string &path, const std::string &device, int threads);
  ~MaceBackend() override;

  void evaluate(const Graph &graph, int64_t n_owned, Result &result) override;
  std::string compile_command(Layout) const override { return kExport; }

 private:
  torch::jit::Module model;
  torch::Device dev{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat64;
  torch::Tensor one_hot;    // (n_types, n_types) identity in the model's dtype: rows are node_attrs

  torch::Tensor buffer(const std::string &path, const char *name);
};

torch::Tensor MaceBackend::buffer(const std::string &path, const char *name)
{
  if (!model.hasattr(name) || !model.attr(name).isTensor())
    throw ModelError("model '" + path + "' has no '" + name + "' buffer: it is not a MACE model exported for "
                     "LAMMPS; export it with " + kExport);
  return model.attr(name).toTensor();
}

MaceBackend::MaceBackend(const std::string &path, const std::string &device, int threads)
{
  const ModelArchive archive(path);    // refuses damaged copies
  if (archive.has_entry_containing("data/aotinductor/") || archive.has_entry_containing("/model/package_metadata"))
    throw ModelError("model file '" + path + "' is a nequip model, not a MACE one: name it .nequip.pt2 and use "
                     "pair_style lmpflow/nequip or lmpflow/allegro");
  if (!archive.has_entry_containing("mace/calculators/lammps_mace"))
    throw ModelError("model file '" + path + "' is not a MACE model exported for LAMMPS (no LAMMPS_MACE code "
                     "inside): export the trained MACE model with " + std::string(kExport));
  keep_freed_memory_for_reuse();
  framework_ = "mace";
  kind_ = "MACE";
  device_ = device.empty() ? "cpu" : device;
  dev = torch_device(device_);
  if (threads > 0) at::set_num_threads(threads);
  try {
    model = torch::jit::load(path, dev);
    model.eval();
  } catch (const std::exception &e) {
    throw ModelError("failed to load MACE model '" + path + "' (exported by an incompatible torch version?): " +
                     std::string(e.what()).substr(0, 400));
  }
  const torch::Tensor z = buffer(path, "atomic_numbers").to(torch::kCPU, torch::kInt64).contiguous();
  const torch::Tensor r_max = buffer(path, "r_max");
  const torch::Tensor layers = buffer(path, "num_interactions");
  dtype = r_max.scalar_type();
  dtype_ = dtype == torch::kFloat64 ? "float64" : dtype == torch::kFloat32 ? "float32" : "unsupported";
  if (dtype_ == "unsupported")
    throw ModelError("MACE model '" + path + "' is neither float64 nor float32: export it with --dtype float64");
  for (int64_t k = 0; k < z.numel(); k++) {
    const int64_t zk = z.data_ptr<int64_t>()[k];
    if (zk < 1 || zk > kMaxZ)
      throw ModelError("MACE model '" + path + "' lists atomic number " + std::to_string(zk) + ", not an element");
    type_names_.push_back(kElements[zk]);
  }
  r_max_ = r_max.item<double>();
  message_passing_layers_ = layers.item<int64_t>();
  if (type_names_.empty() || r_max_ <= 0.0 || message_passing_layers_ < 1)
    throw ModelError("MACE model '" + path + "' has no species, cutoff or interaction layers: re-export it with " +
                     kExport);
  cutoffs_.assign(type_names_.size() * type_names_.size(), r_max_);
  layouts_ = {Layout::periodic, Layout::deep_ghost};
  one_hot = torch::eye((int64_t) type_names_.size(), torch::TensorOptions().dtype(dtype).device(dev));
  metadata_["num_interactions"] = std::to_string(message_passing_layers_);
}

MaceBackend::~MaceBackend()
{
  model = torch::jit::Module();
  release_kept_memory();
}

void MaceBackend::evaluate(const Graph &g, int64_t n_owned, Result &r)
{
  const int64_t n = g.n_nodes, e = g.n_edges;
  if ((int64_t) g.pos.size() != 3 * n || (int64_t) g.types.size() != n || (int64_t) g.edges.size() != 2 * e ||
      !(g.cell_shifts.empty() || (int64_t) g.cell_shifts.size() == 3 * e))
    throw ModelError("internal error: inconsistent graph buffers");
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto real = torch::TensorOptions().dtype(dtype).device(dev);
  const auto index = i64.device(dev);
  // lmpflow's edges are (centre, neighbour); MACE's edge_index is (sender, receiver) and the receiver
  // gathers the message: the centre receives from its neighbour.
  const auto edges = torch::from_blob(const_cast<int64_t *>(g.edges.data()), {2, e}, i64);
  const auto cell = torch::from_blob(const_cast<double *>(g.cell), {3, 3}, f64).to(real);
  // lmpflow's neighbour image is at x_neighbour + s . cell; MACE's shift goes from the sender (neighbour)
  // to the receiver (centre): -s. A deep_ghost graph holds every image explicitly: no shifts.
  const auto unit_shifts = g.cell_shifts.empty()
      ? torch::zeros({e, 3}, real)
      : -torch::from_blob(const_cast<double *>(g.cell_shifts.data()), {e, 3}, f64).to(real);
  c10::Dict<std::string, torch::Tensor> data;
  data.insert("positions", torch::from_blob(const_cast<double *>(g.pos.data()), {n, 3}, f64).to(real));
  data.insert("edge_index", edges.flip({0}).to(index));
  data.insert("unit_shifts", unit_shifts);
  data.insert("shifts", unit_shifts.matmul(cell));
  data.insert("cell", cell);
  data.insert("node_attrs", one_hot.index_select(0, torch::from_blob(const_cast<int64_t *>(g.types.data()), {n}, i64).to(index)));
  data.insert("batch", torch::zeros({n}, index));
  data.insert("ptr", torch::tensor({(int64_t) 0, n}, index));
  torch::Tensor owned = torch::zeros({n}, real);
  owned.narrow(0, 0, std::min(n_owned, n)).fill_(1.0);

  torch::Tensor energy, forces, virial;
  try {
    auto out = model.forward({data, owned, true}).toGenericDict();
    energy = out.at("node_energy").toTensor();
    forces = out.at("forces").toTensor();
    virial = out.at("virials").toTensor();
  } catch (const std::exception &ex) {
    throw ModelError("MACE model evaluation failed: " + std::string(ex.what()).substr(0, 400));
  }
  fill_result(energy, forces, virial, n, r);
}

}    // namespace

std::unique_ptr<Backend> open_mace(const std::string &path, const std::string &device, int threads)
{
  return std::make_unique<MaceBackend>(path, device, threads);
}

}    // namespace lmpflow
