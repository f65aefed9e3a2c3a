// lmpflow: the nequip backend, loading and running nequip-compiled models with libtorch.
#include "backends/nequip/nequip_backend.h"

#include "backends/model_archive.h"
#include "backends/torch_device.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/script.h>
#include <torch/torch.h>

#ifdef LMPFLOW_CUDA
#include "graph/cuda/edges_cuda.h"

#include <cuda_runtime_api.h>
#endif

#include <algorithm>
#include <cstring>
#include <sstream>

namespace lmpflow {
namespace {

bool ends_with(const std::string &s, const std::string &suffix)
{
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split(const std::string &s)
{
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// lmpflow's compile target (python/lmpflow/potentials/nequip_extension.py): the input that masks the
// owned nodes, and the metadata naming the file's layouts and message-passing depth.
const char *const kOwnedMask = "lmpflow_owned_mask";
const char *const kLayoutsKey = "lmpflow_layouts";
const char *const kLayersKey = "lmpflow_num_layers";

// Keys every nequip-compiled model carries; the TorchScript loader fills those it finds.
const char *const kMetadataKeys[] = {"r_max",       "type_names",          "num_types",
                                     "model_dtype", "per_edge_type_cutoff", "nequip_aoti_inputs",
                                     "nequip_aoti_outputs", "nequip_custom_ops_libs"};

// Device tensors that persist across steps and grow geometrically, so MD on a GPU does not
// allocate every step. On the CPU the caller's buffers are used in place.
struct Staging {
  torch::Device device;
  std::map<std::string, torch::Tensor> slots;

  torch::Tensor put(const std::string &slot, const torch::Tensor &host)
  {
    if (device.is_cpu()) return host;
    auto &buf = slots[slot];
    const int64_t n = host.size(0);
    if (!buf.defined() || buf.size(0) < n) {
      auto shape = host.sizes().vec();
      shape[0] = std::max<int64_t>(n + n / 5, 16);
      buf = torch::empty(shape, host.options().device(device));
    }
    auto view = buf.narrow(0, 0, n);
    view.copy_(host, /*non_blocking=*/true);
    return view;
  }
};

// AOTInductor sizes per-thread reduction buffers of its CPU kernels by the compiling process's thread
// count and, when that equals the host's core count, leaves the OpenMP team size to the runtime: more
// threads at run time write past the buffers (a segfault). Such kernels loop "tid < N" over their
// buffers inside bare "#pragma omp parallel" regions. Returns that N (0: any thread count is safe).
int kernel_thread_limit(const ModelArchive &archive)
{
  int limit = 0;
  for (const auto &entry : archive.entries()) {
    if (!ends_with(entry.name, ".kernel.cpp")) continue;
    const std::string_view code = archive.contents(entry);
    bool bare_parallel = false;
    for (size_t at = code.find("#pragma omp parallel"); at != std::string_view::npos;
         at = code.find("#pragma omp parallel", at + 1)) {
      const size_t eol = code.find('\n', at);
      if (code.substr(at, eol - at).find("num_threads") == std::string_view::npos) bare_parallel = true;
    }
    if (!bare_parallel) continue;
    for (size_t at = code.find("tid < "); at != std::string_view::npos; at = code.find("tid < ", at + 1)) {
      int n = 0;
      size_t k = at + 6;
      for (; k < code.size() && code[k] >= '0' && code[k] <= '9' && n < 1000000; k++) n = 10 * n + (code[k] - '0');
      if (k > at + 6 && n > 0) limit = limit ? std::min(limit, n) : n;
    }
  }
  return limit;
}

// The vector ISA AOTInductor compiled the CPU kernels for (metadata AOTI_CPU_ISA, e.g. "AVX512
// AVX512_VNNI"), checked against this CPU: a kernel built for a newer CPU dies with SIGILL.
std::string missing_cpu_features(const std::string &isa)
{
  std::string missing;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  for (const auto &word : split(isa)) {
    bool ok = true;
    if (word == "AVX2")
      ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    else if (word == "AVX512")
      ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    else if (word == "AVX512_VNNI")
      ok = __builtin_cpu_supports("avx512vnni");
    else if (word == "AVX512_BF16")
      ok = __builtin_cpu_supports("avx512bf16");
    else if (word.rfind("AMX", 0) == 0)
      ok = __builtin_cpu_supports("amx-tile");
    if (!ok) missing += (missing.empty() ? "" : " ") + word;
  }
#else
  (void) isa;
#endif
  return missing;
}

class NequipBackend : public Backend {
 public:
  NequipBackend(const std::string &path, const std::string &device, int threads);
  ~NequipBackend() override;

  void evaluate(const Graph &graph, int64_t n_owned, Result &result) override;
#ifdef LMPFLOW_CUDA
  void evaluate_device_edges(const Graph &graph, int64_t n_owned, Result &result) override;
#endif
  std::string compile_command(Layout layout) const override;

 private:
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> aoti;
  torch::jit::Module script;
  bool is_aoti = false;
  bool with_cell = false;    // cell and edge_cell_shift inputs: pair_nequip target and TorchScript
  bool with_mask = false;    // lmpflow_owned_mask input: lmpflow_nequip target
  Staging staging{torch::Device(torch::kCPU)};
  std::vector<std::string> inputs, outputs;
  std::vector<uint8_t> owned_mask;    // host buffer of the lmpflow_owned_mask input (bool)
  int thread_limit = 0;    // most threads the kernels take (0: any), see kernel_thread_limit
  // CUDA kernels are read from the unpacked folder on first use, so it lives as long as the model
  std::shared_ptr<UnpackedArchive> unpacked;
#ifdef LMPFLOW_CUDA
  std::unique_ptr<cuda::EdgeBuilder> edge_builder;
#endif

  void read_metadata(const std::string &path);
  void check_compiled_package(const ModelArchive &archive, const torch::Device &dev, int threads);
  void run(std::map<std::string, torch::Tensor> &in, int64_t n_nodes, Result &r);
};

NequipBackend::NequipBackend(const std::string &path, const std::string &device, int threads)
{
  const ModelArchive archive(path);
  is_aoti = ends_with(path, ".pt2");
  if (archive.has_entry_containing("/model/package_metadata.txt"))
    throw must_compile(path, "an uncompiled nequip package (a renamed .nequip.zip)");
  if (is_aoti && !archive.has_entry_containing("data/aotinductor/"))
    throw ModelError("model file '" + path + "' is a zip archive but not an AOTInductor package (no "
                     "data/aotinductor/ inside): compile the model with nequip-compile --mode aotinductor");
  keep_freed_memory_for_reuse();
  framework_ = "nequip";

  read_metadata(path);

  // Default device: the one the model was compiled for (AOTInductor packages are device-specific).
  std::string compiled_for = metadata_.count("AOTI_DEVICE_KEY") ? metadata_["AOTI_DEVICE_KEY"] : "";
  device_ = device.empty() ? (compiled_for.empty() ? "cpu" : compiled_for) : device;
  const torch::Device dev = torch_device(device_);
  if (is_aoti && !compiled_for.empty() && torch::Device(compiled_for).type() != dev.type())
    throw ModelError("model '" + path + "' was compiled for " + compiled_for + " but device " +
                     device_ + " was requested: recompile with nequip-compile --device " +
                     std::string(dev.is_cuda() ? "cuda" : "cpu") + " or change the device keyword");
  staging.device = dev;
  if (is_aoti) check_compiled_package(archive, dev, threads);
  if (threads > 0) at::set_num_threads(threads);

  try {
    if (is_aoti) {
      // Unpacked by us (the loader's own extraction folder outlives runs that stop with an error) into a
      // folder named by the contents, so reloading a model reuses its already mapped library.
      unpacked = archive.unpack();
      std::string root = unpacked->dir();
      for (const auto &entry : archive.entries()) {
        const size_t at = entry.name.find("data/aotinductor/");
        if (at != std::string::npos) {
          root += "/" + entry.name.substr(0, at);
          break;
        }
      }
      aoti = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
          root, "model", false, 1, dev.is_cuda() ? dev.index() : -1);
      if (!dev.is_cuda()) unpacked.reset();    // CPU kernels are all in the loaded library now
    } else {
      script = torch::jit::load(path, dev);
      script.eval();
    }
  } catch (const ModelError &) {
    throw;
  } catch (const std::exception &e) {
    throw ModelError("failed to load model '" + path + "' (compiled by an incompatible torch version, or "
                     "for another machine; recompile it with this torch): " +
                     std::string(e.what()).substr(0, 400));
  }
}

NequipBackend::~NequipBackend()
{
  aoti.reset();
  script = torch::jit::Module();
  staging.slots.clear();
  release_kept_memory();    // freed memory is kept for reuse while a model runs
}

// Machine-specific parts of an AOTInductor CPU package: its vector ISA and its thread limit.
void NequipBackend::check_compiled_package(const ModelArchive &archive, const torch::Device &dev, int threads)
{
  if (dev.is_cuda()) return;
  const std::string recompile = "recompile it on this machine (lmpflow.compile_model, or nequip-compile with "
                                "TORCHINDUCTOR_CPP_DYNAMIC_THREADS=1 so its kernels take any thread count)";
  const std::string isa = metadata_.count("AOTI_CPU_ISA") ? metadata_["AOTI_CPU_ISA"] : "";
  const std::string missing = missing_cpu_features(isa);
  if (!missing.empty())
    throw ModelError("model '" + archive.path() + "' was compiled for CPUs with " + isa + " but this CPU lacks " +
                     missing + ": " + recompile);
  thread_limit = kernel_thread_limit(archive);
  const int wanted = threads > 0 ? threads : at::get_num_threads();
  if (!thread_limit || wanted <= thread_limit) return;
  const std::string why = "model '" + archive.path() + "' was compiled on a host with " +
      std::to_string(thread_limit) + " threads and its kernels take at most that many";
  if (threads > 0)
    throw ModelError(why + ": use threads " + std::to_string(thread_limit) + " or fewer, or " + recompile);
  warnings_.push_back(why + ": running on " + std::to_string(thread_limit) + " threads instead of " +
                      std::to_string(wanted) + "; to use more, " + recompile);
  at::set_num_threads(thread_limit);
}

void NequipBackend::read_metadata(const std::string &path)
{
  try {
    if (is_aoti) {
      for (auto &kv : torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model"))
        metadata_[kv.first] = kv.second;
    } else {
      torch::jit::ExtraFilesMap extra;
      for (const char *key : kMetadataKeys) extra[key] = "";
      torch::jit::load(path, torch::kCPU, extra);
      for (auto &kv : extra)
        if (!kv.second.empty()) metadata_[kv.first] = kv.second;
    }
  } catch (const std::exception &e) {
    throw ModelError("cannot read metadata of model '" + path + "': the file is corrupt or truncated (" +
                     std::string(e.what()).substr(0, 200) + "); recompile it with nequip-compile");
  }
  for (const char *key : {"r_max", "type_names"})
    if (!metadata_.count(key))
      throw ModelError("model '" + path + "' has no '" + key +
                       "' metadata: it was not compiled by nequip-compile");
  if (metadata_.count("nequip_custom_ops_libs") && !split(metadata_["nequip_custom_ops_libs"]).empty())
    throw ModelError("model '" + path + "' needs custom op libraries (" +
                     metadata_["nequip_custom_ops_libs"] +
                     ") which lmpflow does not load: compile it without accelerations that add custom ops");

  type_names_ = split(metadata_["type_names"]);
  r_max_ = std::stod(metadata_["r_max"]);
  dtype_ = metadata_.count("model_dtype") ? metadata_["model_dtype"] : "float64";
  const size_t nt = type_names_.size();
  if (metadata_.count("num_types") && std::stoul(metadata_["num_types"]) != nt)
    throw ModelError("model metadata is inconsistent: num_types=" + metadata_["num_types"] + " but " +
                     std::to_string(nt) + " type_names");
  cutoffs_.assign(nt * nt, r_max_);
  if (metadata_.count("per_edge_type_cutoff") && !metadata_["per_edge_type_cutoff"].empty()) {
    auto words = split(metadata_["per_edge_type_cutoff"]);
    if (words.size() != nt * nt)
      throw ModelError("model metadata is inconsistent: per_edge_type_cutoff has " +
                       std::to_string(words.size()) + " entries, expected num_types^2 = " +
                       std::to_string(nt * nt));
    for (size_t k = 0; k < words.size(); k++) cutoffs_[k] = std::stod(words[k]);
  }
  if (is_aoti) {
    inputs = split(metadata_["nequip_aoti_inputs"]);
    outputs = split(metadata_["nequip_aoti_outputs"]);
    for (const char *need : {"atomic_energy", "forces", "virial"})
      if (std::find(outputs.begin(), outputs.end(), need) == outputs.end())
        throw ModelError("model '" + path + "' does not output '" + need +
                         "': compile it with nequip-compile --target pair_nequip or --target pair_allegro");
    with_cell = std::find(inputs.begin(), inputs.end(), "cell") != inputs.end();
    with_mask = std::find(inputs.begin(), inputs.end(), kOwnedMask) != inputs.end();
    kind_ = with_cell ? "NequIP" : "Allegro";
    if (!metadata_.count(kLayoutsKey)) {
      if (with_mask)
        throw ModelError("model '" + path + "' takes " + kOwnedMask + " but has no " + kLayoutsKey +
                         " metadata: recompile it with " + compile_command(Layout::deep_ghost));
      layouts_ = {with_cell ? Layout::periodic : Layout::ghost};
      return;
    }
    // names of layouts this build does not know (a newer lmpflow's) are skipped
    for (const auto &name : split(metadata_[kLayoutsKey]))
      for (Layout l : {Layout::ghost, Layout::periodic, Layout::deep_ghost}) {
        if (name != layout_name(l)) continue;
        if ((l == Layout::periodic && !with_cell) || (l == Layout::deep_ghost && !with_mask))
          throw ModelError("model '" + path + "' claims the " + name +
                           " layout but lacks its inputs: recompile it with " + compile_command(l));
        layouts_.push_back(l);
      }
    if (layouts_.empty())
      throw ModelError("model '" + path + "' runs in no graph layout this lmpflow builds (" +
                       metadata_[kLayoutsKey] + "): update lmpflow or recompile the model");
    if (std::find(layouts_.begin(), layouts_.end(), Layout::deep_ghost) != layouts_.end()) {
      try {
        message_passing_layers_ = std::stoi(metadata_.at(kLayersKey));
      } catch (const std::exception &) {
        message_passing_layers_ = 0;
      }
      if (message_passing_layers_ < 1)
        throw ModelError("model '" + path + "' has no valid " + kLayersKey + " metadata: recompile it with " +
                         compile_command(Layout::deep_ghost));
    }
  } else {
    // TorchScript models take a dict and accept either layout (cell shifts are zero in the ghost one),
    // but no owned mask.
    with_cell = true;
    layouts_ = {Layout::periodic, Layout::ghost};
    kind_ = "TorchScript";
  }
}

std::string NequipBackend::compile_command(Layout layout) const
{
  switch (layout) {
    case Layout::ghost:
      return "nequip-compile --target pair_allegro";
    case Layout::periodic:
      return "nequip-compile --target pair_nequip";
    case Layout::deep_ghost:
      return "lmpflow compile MODEL.nequip.zip (target lmpflow_nequip)";
  }
  return "";
}

// Nodes [0, n_owned) go into the owned mask of lmpflow_nequip files; other files need no n_owned (the
// pair styles sum the energies of owned nodes themselves).
void NequipBackend::evaluate(const Graph &g, int64_t n_owned, Result &r)
{
  // AOTInductor exports need at least 2 nodes and 2 edges: pad with two dummy atoms far away,
  // joined by edges longer than the cutoff, whose energy and forces are then dropped.
  const Graph *graph = &g;
  Graph padded;
  if (g.n_nodes < 2 || g.n_edges < 2) {
    padded = g;
    double far = 0.0;
    for (double v : g.pos) far = std::max(far, std::abs(v));
    far += 10.0 * r_max_;
    const int64_t a = g.n_nodes, b = g.n_nodes + 1;
    padded.pos.insert(padded.pos.end(), {far, 0.0, 0.0, far + 3.0 * r_max_, 0.0, 0.0});
    padded.types.insert(padded.types.end(), {0, 0});
    std::vector<int64_t> edges;
    edges.insert(edges.end(), g.edges.begin(), g.edges.begin() + g.n_edges);
    edges.insert(edges.end(), {a, b});
    edges.insert(edges.end(), g.edges.begin() + g.n_edges, g.edges.end());
    edges.insert(edges.end(), {b, a});
    padded.edges = std::move(edges);
    padded.cell_shifts.resize(3 * (g.n_edges + 2), 0.0);
    padded.n_nodes = g.n_nodes + 2;
    padded.n_edges = g.n_edges + 2;
    graph = &padded;
  }
  const int64_t n = graph->n_nodes, e = graph->n_edges;
  if ((int64_t) graph->pos.size() != 3 * n || (int64_t) graph->types.size() != n ||
      (int64_t) graph->edges.size() != 2 * e ||
      !(graph->cell_shifts.empty() || (int64_t) graph->cell_shifts.size() == 3 * e))
    throw ModelError("internal error: inconsistent graph buffers");
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  // from_blob does not copy: the graph's vectors are the host buffers.
  std::map<std::string, torch::Tensor> in;
  in["pos"] = staging.put("pos", torch::from_blob(const_cast<double *>(graph->pos.data()), {n, 3}, f64));
  in["atom_types"] =
      staging.put("atom_types", torch::from_blob(const_cast<int64_t *>(graph->types.data()), {n}, i64));
  // edge_index (2, E) is staged flat, so the persistent device buffer stays contiguous
  in["edge_index"] =
      staging.put("edge_index", torch::from_blob(const_cast<int64_t *>(graph->edges.data()), {2 * e}, i64)).view({2, e});
  if (with_cell) {
    in["cell"] = staging.put("cell", torch::from_blob(const_cast<double *>(graph->cell), {1, 3, 3}, f64));
    // a graph of owned + ghost atoms has explicit images: all shifts are zero
    auto shifts = graph->cell_shifts.empty()
        ? torch::zeros({e, 3}, f64)
        : torch::from_blob(const_cast<double *>(graph->cell_shifts.data()), {e, 3}, f64);
    in["edge_cell_shift"] = staging.put("edge_cell_shift", shifts);
  }
  if (with_mask) {
    // padding nodes (beyond g.n_nodes) are not owned
    owned_mask.assign(n, 0);
    std::fill(owned_mask.begin(), owned_mask.begin() + std::min<int64_t>(n_owned, g.n_nodes), 1);
    in[kOwnedMask] = staging.put(kOwnedMask, torch::from_blob(owned_mask.data(), {n}, torch::kBool));
  }

  run(in, g.n_nodes, r);
}

void NequipBackend::run(std::map<std::string, torch::Tensor> &in, int64_t n_nodes, Result &r)
{
  // another style in this process may have raised torch's (process-wide) thread count since the load
  if (thread_limit && at::get_num_threads() > thread_limit) at::set_num_threads(thread_limit);
  torch::Tensor energy, forces, virial;
  try {
    if (is_aoti) {
      std::vector<torch::Tensor> args;
      for (const auto &name : inputs) {
        auto it = in.find(name);
        if (it == in.end())
          throw ModelError("model expects input '" + name + "' which lmpflow does not provide");
        args.push_back(it->second.contiguous());
      }
      auto out = aoti->run(args);
      for (size_t k = 0; k < outputs.size() && k < out.size(); k++) {
        if (outputs[k] == "atomic_energy") energy = out[k];
        if (outputs[k] == "forces") forces = out[k];
        if (outputs[k] == "virial") virial = out[k];
      }
    } else {
      c10::Dict<std::string, torch::Tensor> data;
      for (auto &kv : in) data.insert(kv.first, kv.second.contiguous());
      auto out = script.forward({data}).toGenericDict();
      energy = out.at("atomic_energy").toTensor();
      forces = out.at("forces").toTensor();
      virial = out.at("virial").toTensor();
    }
  } catch (const ModelError &) {
    throw;
  } catch (const std::exception &ex) {
    throw ModelError("model evaluation failed: " + std::string(ex.what()).substr(0, 400));
  }
  if (!energy.defined() || !forces.defined() || !virial.defined())
    throw ModelError("model returned fewer outputs than its metadata lists");

  fill_result(energy, forces, virial, n_nodes, r);
}

#ifdef LMPFLOW_CUDA
void NequipBackend::evaluate_device_edges(const Graph &g, int64_t n_owned, Result &r)
{
  if (!staging.device.is_cuda()) throw ModelError("'edges gpu' needs 'device cuda'");
  if (!edge_builder) edge_builder = std::make_unique<cuda::EdgeBuilder>();
  const int64_t n = g.n_nodes;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  std::map<std::string, torch::Tensor> in;
  in["pos"] = staging.put("pos", torch::from_blob(const_cast<double *>(g.pos.data()), {n, 3}, f64));
  in["atom_types"] = staging.put("atom_types", torch::from_blob(const_cast<int64_t *>(g.types.data()), {n}, i64));
  double lo[3], hi[3];
  for (int d = 0; d < 3; d++) {
    lo[d] = hi[d] = g.pos[d];
    for (int64_t i = 1; i < n; i++) lo[d] = std::min(lo[d], g.pos[3 * i + d]), hi[d] = std::max(hi[d], g.pos[3 * i + d]);
  }
  std::vector<double> cutsq(cutoffs_.size());
  for (size_t k = 0; k < cutsq.size(); k++) cutsq[k] = cutoffs_[k] * cutoffs_[k];
  const double max_cut = *std::max_element(cutoffs_.begin(), cutoffs_.end());
  // torch works on the legacy default stream unless told otherwise; the kernels use it too
  void *stream = nullptr;
  int64_t e = 0;
  try {
    e = edge_builder->build(in["pos"].data_ptr<double>(), in["atom_types"].data_ptr<int64_t>(), n_owned, n, lo,
                            hi, cutsq.data(), type_names_.size(), max_cut, stream);
  } catch (const std::exception &ex) {
    throw ModelError(ex.what());
  }
  if (e < 2) {    // too small for the exported shapes: take the padded CPU-built path
    Graph host = g;
    std::vector<int64_t> edges(2 * e);
    if (e) cudaMemcpy(edges.data(), edge_builder->edges(), sizeof(int64_t) * 2 * e, cudaMemcpyDeviceToHost);
    host.edges = edges;
    host.n_edges = e;
    return evaluate(host, n_owned, r);
  }
  in["edge_index"] = torch::from_blob(const_cast<int64_t *>(edge_builder->edges()), {2, e}, i64.device(staging.device));
  run(in, n, r);
}
#endif

}    // namespace

std::unique_ptr<Backend> open_nequip(const std::string &path, const std::string &device, int threads)
{
  return std::make_unique<NequipBackend>(path, device, threads);
}

}    // namespace lmpflow
