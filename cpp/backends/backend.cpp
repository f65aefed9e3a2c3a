// lmpflow: which backend opens which model file. A new kind of file is one row of kFileKinds.
#include "backends/backend.h"

#include "backends/nequip/nequip_backend.h"

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
};

bool ends_with(const std::string &s, const std::string &suffix)
{
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}    // namespace

std::unique_ptr<Backend> open_backend(const std::string &path, const std::string &device, int threads)
{
  std::string kinds;
  for (const auto &kind : kFileKinds) {
    if (ends_with(path, kind.suffix)) return kind.open(path, device, threads);
    kinds += (kinds.empty() ? "" : " or ") + std::string(kind.made_by);
  }
  throw ModelError("model file '" + path + "' must end in " + kinds);
}

void Backend::evaluate_device_edges(const Graph &, int64_t, Result &)
{
  throw ModelError("'edges gpu' is not available for " + kind_ + " models: use 'edges cpu'");
}

}    // namespace lmpflow
