// lmpflow: LAMMPS plugin entry point (`plugin load lmpflowplugin.so`, or LAMMPS_PLUGIN_PATH).
#include "lammps.h"
#include "pair_lmpflow.h"

#include <vector>

using namespace LAMMPS_NS;

// The plugin ABI of LAMMPS (see its lammpsplugin.h, which pip wheels do not ship).
extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

namespace {

template <int Row> Pair *create(LAMMPS *lmp);

// One row per style: its name, the framework whose files it runs (Backend::framework), the graph layouts
// it builds (the model file says which it runs in; on one rank the first it can is used: periodic, the
// faster one, for NequIP) and what it runs.
const struct {
  const char *name;
  const char *framework;
  std::vector<lmpflow::Layout> layouts;
  Pair *(*create)(LAMMPS *);
  const char *info;
} kStyles[] = {
    {"lmpflow/nequip", "nequip", {lmpflow::Layout::periodic, lmpflow::Layout::deep_ghost}, &create<0>,
     "lmpflow pair style for message-passing NequIP models (lmpflow compile: any number of MPI ranks; "
     "nequip-compile --target pair_nequip: one rank)"},
    {"lmpflow/allegro", "nequip", {lmpflow::Layout::ghost}, &create<1>,
     "lmpflow pair style for strictly local Allegro models (nequip-compile --target pair_allegro)"},
    {"lmpflow/mace", "mace", {lmpflow::Layout::periodic, lmpflow::Layout::deep_ghost}, &create<2>,
     "lmpflow pair style for MACE models exported for LAMMPS (mace-torch create_lammps_model), any number "
     "of MPI ranks"},
};

template <int Row> Pair *create(LAMMPS *lmp)
{
  return new PairLMPFlow(lmp, kStyles[Row].framework, kStyles[Row].layouts);
}

}    // namespace

const char *LAMMPS_NS::lmpflow_style(const std::string &framework, lmpflow::Layout layout)
{
  for (const auto &style : kStyles)
    for (lmpflow::Layout l : style.layouts)
      if (style.framework == framework && l == layout) return style.name;
  return "lmpflow/*";
}

extern "C" LMPFLOW_EXPORT void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto reg = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;
  // The host's own version string, so the plugin loads in any LAMMPS it was built against.
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.author = "lmpflow developers";
  plugin.handle = handle;
  for (const auto &style : kStyles) {
    plugin.name = style.name;
    plugin.info = style.info;
    plugin.creator.v1 = (lammpsplugin_factory1 *) style.create;
    (*reg)(&plugin, lmp);
  }
}
