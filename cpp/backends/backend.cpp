// lmpflow: which backend opens which model file. A new kind of file is one row of kFileKinds.
#include "backends/backend.h"

#include "backends/mace/mace_backend.h"
#include "backends/nequip/nequip_backend.h"

#include <sys/stat.h>

namespace lmpflow {
namespace {

// Its name ending, what makes such a file (for the error on other files) and the backend that opens it.
const struct {
  const char *suffix;
  const char *made_by;
  std::unique_ptr<Backend> (*open)(const std::string &path, const std::string &device, int threads);
} kFileKinds[] = {
    {".pt2", ".nequip.pt2 (nequip-compile --mode aotinductor)", &open_nequip},
    {".pth", ".nequip.pth (nequip-compile --mode torchscript)", &open_nequip},
    {".mace.pt", ".mace.pt (MACE exported for LAMMPS: lmpflow compile MODEL.model)", &open_mace},
    {"-lammps.pt", "", &open_mace},    // the name mace-torch's own create_lammps_model gives
};

// Files that are models but must be compiled before LAMMPS can run them, and how.
const char *const kCompileMace = "export it for LAMMPS with lmpflow.compile_model (or lmpflow compile), which "
                                 "runs mace-torch's create_lammps_model in lmpflow's MACE environment";
const struct {
  const char *suffix;
  const char *what;
  const char *how;    // nullptr: nequip-compile
} kSourceKinds[] = {
    {".nequip.zip", "an uncompiled nequip package", nullptr},
    {".ckpt", "a nequip training checkpoint", nullptr},
    {".model", "a MACE model as mace-torch trains it", kCompileMace},
};

bool ends_with(const std::string &s, const std::string &suffix)
{
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}    // namespace

std::unique_ptr<Backend> open_backend(const std::string &path, const std::string &device, int threads)
{
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw ModelError("model file '" + path + "' is a directory: give the compiled model file (.nequip.pt2) itself");
  for (const auto &source : kSourceKinds)
    if (ends_with(path, source.suffix))
      throw source.how ? ModelError("model file '" + path + "' is " + source.what + ": " + source.how)
                       : must_compile(path, source.what);
  std::string kinds;
  for (const auto &kind : kFileKinds) {
    if (ends_with(path, kind.suffix)) return kind.open(path, device, threads);
    if (*kind.made_by) kinds += (kinds.empty() ? "" : " or ") + std::string(kind.made_by);
  }
  throw ModelError("model file '" + path + "' must end in " + kinds);
}

ModelError must_compile(const std::string &path, const std::string &what)
{
  return ModelError("model file '" + path + "' is " + what + ": compile it for LAMMPS with nequip-compile " + path +
                    " model.nequip.pt2 --mode aotinductor --device cpu --target pair_nequip (pair_allegro for "
                    "Allegro), or lmpflow.compile_model('" + path + "')");
}

void Backend::evaluate_device_edges(const Graph &, int64_t, Result &)
{
  throw ModelError("'edges gpu' is not available for " + kind_ + " models: use 'edges cpu'");
}

}    // namespace lmpflow
