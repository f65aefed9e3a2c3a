// lmpflow: LAMMPS plugin entry point (`plugin load lmpflowplugin.so`, or LAMMPS_PLUGIN_PATH).
#include "lammps.h"
#include "pair_lmpflow.h"

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

template <lmpflow::Layout L> Pair *create(LAMMPS *lmp)
{
  return new PairLMPFlow(lmp, L);
}

// One row per style: its name, the graph layout it builds and what it runs.
const struct {
  const char *name;
  lmpflow::Layout layout;
  Pair *(*create)(LAMMPS *);
  const char *info;
} kStyles[] = {
    {"lmpflow/nequip", lmpflow::Layout::periodic, &create<lmpflow::Layout::periodic>,
     "lmpflow pair style for message-passing NequIP models (nequip-compile --target pair_nequip)"},
    {"lmpflow/allegro", lmpflow::Layout::ghost, &create<lmpflow::Layout::ghost>,
     "lmpflow pair style for strictly local Allegro models (nequip-compile --target pair_allegro)"},
};

}    // namespace

const char *LAMMPS_NS::lmpflow_style(lmpflow::Layout layout)
{
  for (const auto &style : kStyles)
    if (style.layout == layout) return style.name;
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
