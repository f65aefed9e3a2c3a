// lmpflow: models compiled by nequip-compile (NequIP and Allegro; AOTInductor .nequip.pt2 or
// TorchScript .nequip.pth).
#ifndef LMPFLOW_NEQUIP_BACKEND_H
#define LMPFLOW_NEQUIP_BACKEND_H

#include "backends/backend.h"

namespace lmpflow {

std::unique_ptr<Backend> open_nequip(const std::string &path, const std::string &device, int threads);

}    // namespace lmpflow
#endif
