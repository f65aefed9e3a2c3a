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

static Pair *create_nequip(LAMMPS *lmp)
{
  return new PairLMPFlowNequip(lmp);
}

static Pair *create_allegro(LAMMPS *lmp)
{
  return new PairLMPFlowAllegro(lmp);
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

  plugin.name = "lmpflow/nequip";
  plugin.info = "lmpflow pair style for message-passing NequIP models (nequip-compile --target pair_nequip)";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_nequip;
  (*reg)(&plugin, lmp);

  plugin.name = "lmpflow/allegro";
  plugin.info = "lmpflow pair style for strictly local Allegro models (nequip-compile --target pair_allegro)";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_allegro;
  (*reg)(&plugin, lmp);
}
