// lmpflow: LAMMPS pair styles that run ML force fields through a backend on a graph layout.
#include "pair_lmpflow.h"

#include "backends/backend.h"
#include "graph/graph_builder.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;
using lmpflow::Layout;

namespace {

bool contains(const std::vector<Layout> &layouts, Layout layout)
{
  return std::find(layouts.begin(), layouts.end(), layout) != layouts.end();
}

std::string names(const std::vector<Layout> &layouts)
{
  std::string out;
  for (Layout l : layouts) out += (out.empty() ? "" : " ") + std::string(lmpflow::layout_name(l));
  return out;
}

// The layout of `layouts` to recompile a model for: one that runs on any number of ranks.
Layout any_rank(const std::vector<Layout> &layouts)
{
  for (Layout l : layouts)
    if (!lmpflow::one_rank_only(l)) return l;
  return layouts.front();
}

}    // namespace

PairLMPFlow::PairLMPFlow(LAMMPS *lmp, const std::string &framework, const std::vector<Layout> &layouts) :
    Pair(lmp), framework(framework), style_layouts(layouts), layout(layouts.front())
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;    // the model returns the virial itself
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairLMPFlow::~PairLMPFlow()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

/* ---------------------------------------------------------------------- */

void PairLMPFlow::settings(int narg, char **arg)
{
  user_layout.reset();
  for (int i = 0; i < narg; i += 2) {
    if (i + 1 >= narg) error->all(FLERR, "Illegal pair_style {} command: '{}' needs a value", force->pair_style, arg[i]);
    if (strcmp(arg[i], "device") == 0)
      device = arg[i + 1];
    else if (strcmp(arg[i], "threads") == 0) {
      threads = utils::inumeric(FLERR, arg[i + 1], false, lmp);
      if (threads < 0)
        error->all(FLERR, "pair_style {} threads {}: give a positive number of torch threads (or leave the "
                   "keyword out for torch's default)", force->pair_style, threads);
    } else if (strcmp(arg[i], "edges") == 0 && (strcmp(arg[i + 1], "cpu") == 0 || strcmp(arg[i + 1], "gpu") == 0))
      gpu_edges = strcmp(arg[i + 1], "gpu") == 0;
    else if (strcmp(arg[i], "layout") == 0) {
      for (Layout l : style_layouts)
        if (strcmp(arg[i + 1], lmpflow::layout_name(l)) == 0) user_layout = l;
      if (!user_layout)
        error->all(FLERR, "pair_style {} builds the graph layouts '{}': got 'layout {}'", force->pair_style,
                   names(style_layouts), arg[i + 1]);
    } else
      error->all(FLERR, "Unknown pair_style {} keyword '{} {}': use 'device cpu|cuda|cuda:N', 'threads N', "
                 "'edges cpu|gpu' or 'layout {}'", force->pair_style, arg[i], arg[i + 1],
                 utils::join_words(utils::split_words(names(style_layouts)), "|"));
  }
#ifndef LMPFLOW_CUDA
  if (gpu_edges)
    error->all(FLERR, "'edges gpu' needs lmpflow built with CUDA kernels: reinstall with LMPFLOW_CUDA=ON");
#endif
  if (gpu_edges && !contains(style_layouts, Layout::ghost))
    error->all(FLERR, "'edges gpu' is for pair_style {} (owned + ghost atom graphs)", lmpflow_style("nequip", Layout::ghost));
}

/* ---------------------------------------------------------------------- */

void PairLMPFlow::coeff(int narg, char **arg)
{
  const int ntypes = atom->ntypes;
  if (narg < 3 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "Incorrect args for pair coefficients: use 'pair_coeff * * model.nequip.pt2 "
                      "<species of type 1> ... <species of type N>'");
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff for {} needs one model species (or NULL) per LAMMPS atom type: got {} "
               "for {} types", force->pair_style, narg - 3, ntypes);

  model_path = arg[2];
  try {
    backend = lmpflow::open_backend(model_path, device, threads);
  } catch (const lmpflow::ModelError &e) {
    error->all(FLERR, "{}: {}", force->pair_style, e.what());
  }
  if (backend->framework() != framework)
    error->all(FLERR, "Model {} is a {} model ({} file): use pair_style {}, not {}", model_path, backend->kind(),
               backend->framework(), lmpflow_style(backend->framework(), backend->layouts().front()),
               force->pair_style);
  model_layouts.clear();
  for (Layout l : style_layouts)
    if (contains(backend->layouts(), l)) model_layouts.push_back(l);
  if (model_layouts.empty()) {
    if (backend->layouts().empty()) error->all(FLERR, "Model {} names no graph layout it runs in", model_path);
    const Layout theirs = backend->layouts().front();
    error->all(FLERR, "Model {} was compiled with {}: use pair_style {} or recompile it with {}", model_path,
               backend->compile_command(theirs), lmpflow_style(framework, theirs),
               backend->compile_command(any_rank(style_layouts)));
  }

  if (!allocated) {
    allocated = 1;
    memory->create(setflag, ntypes + 1, ntypes + 1, "pair:setflag");
    memory->create(cutsq, ntypes + 1, ntypes + 1, "pair:cutsq");
    memory->create(cutghost, ntypes + 1, ntypes + 1, "pair:cutghost");
  }
  const auto &names = backend->type_names();
  const int nt = names.size();
  type_map.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const std::string species = arg[2 + t];
    if (species == "NULL") continue;
    for (int k = 0; k < nt; k++)
      if (names[k] == species) type_map[t] = k;
    if (type_map[t] < 0)
      error->all(FLERR, "pair_coeff: species '{}' given for LAMMPS type {} is not in model {}, whose "
                 "species are: {}. Map each LAMMPS type to one of them (or NULL)",
                 species, t, model_path, utils::join_words(names, " "));
  }
  model_cutsq.assign((ntypes + 1) * (ntypes + 1), 0.0);
  for (int i = 1; i <= ntypes; i++)
    for (int j = 1; j <= ntypes; j++) {
      setflag[i][j] = (type_map[i] >= 0 && type_map[j] >= 0) ? 1 : 0;
      if (setflag[i][j]) {
        const double rc = backend->cutoffs()[type_map[i] * nt + type_map[j]];
        model_cutsq[i * (ntypes + 1) + j] = rc * rc;
      }
    }
  if (comm->me == 0) {
    utils::logmesg(lmp, "{}: model {} ({} {}, r_max {} A, device {}), species {}\n", force->pair_style,
                   model_path, backend->kind(), backend->dtype(), backend->r_max(), backend->device(),
                   utils::join_words(names, " "));
    for (const auto &warning : backend->warnings()) error->warning(FLERR, "{}: {}", force->pair_style, warning);
  }
}

/* ---------------------------------------------------------------------- */

void PairLMPFlow::init_style()
{
  if (!backend) error->all(FLERR, "{} needs a pair_coeff * * <model file> <species...> line", force->pair_style);
  if (force->newton_pair == 0)
    error->all(FLERR, "Pair style {} requires newton pair on (ghost-atom forces are sent back to their "
               "owners): remove 'newton off' from the input", force->pair_style);
  if (atom->tag_enable == 0) error->all(FLERR, "Pair style {} requires atom IDs", force->pair_style);
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Pair style {} works in eV and Angstrom: use 'units metal' (got units {})",
               force->pair_style, update->unit_style);
  if (gpu_edges && backend->device().rfind("cuda", 0) != 0)
    error->all(FLERR, "'edges gpu' needs 'device cuda' in the pair_style line");
  if (gpu_edges)
    for (int t = 1; t <= atom->ntypes; t++)
      if (type_map[t] < 0) error->all(FLERR, "'edges gpu' needs every LAMMPS type mapped to a model species (no NULL)");
  choose_layout();
  // deep_ghost: edges are centred on ghost atoms too, out to a ghost shell of several cutoffs
  ghostneigh = layout == Layout::deep_ghost ? 1 : 0;
  set_ghost_cutoff();
  check_neighbor_options();
  neighbor->add_request(this, ghostneigh ? NeighConst::REQ_FULL | NeighConst::REQ_GHOST : NeighConst::REQ_FULL);
  graph_builder = lmpflow::make_graph_builder(layout, gpu_edges, backend->message_passing_layers(), lmp,
                                              type_map, model_cutsq);
}

/* ---------------------------------------------------------------------- */

// The layout of this run: the 'layout' keyword's, else the first of the model's that works on this
// many ranks (the style table lists the fastest on one rank first).
void PairLMPFlow::choose_layout()
{
  const bool many_ranks = comm->nprocs > 1;
  if (user_layout) {
    if (!contains(model_layouts, *user_layout))
      error->all(FLERR, "Model {} has no {} graph (it runs in: {}): recompile it with {}", model_path,
                 lmpflow::layout_name(*user_layout), names(model_layouts), backend->compile_command(*user_layout));
    if (many_ranks && lmpflow::one_rank_only(*user_layout))
      error->all(FLERR, "'layout {}' needs every atom on one MPI rank: run on one rank or use 'layout {}'",
                 lmpflow::layout_name(*user_layout), lmpflow::layout_name(any_rank(model_layouts)));
    layout = *user_layout;
    return;
  }
  for (Layout l : model_layouts)
    if (!many_ranks || !lmpflow::one_rank_only(l)) {
      layout = l;
      return;
    }
  error->all(FLERR, "Model {} was compiled with {}, whose graph needs every atom on one MPI rank (messages "
             "pass further than one rank's ghost atoms): run on one rank, or recompile it for any number of "
             "ranks with {}", model_path, backend->compile_command(model_layouts.front()),
             backend->compile_command(any_rank(style_layouts)));
}

// deep_ghost: ghost atoms out to layers x cutoff + skin, so that every atom within `layers` edges of an
// owned atom is there with all its neighbours (atoms move < skin/2 between rebuilds). Other layouts
// take the neighbour cutoff LAMMPS sets by itself.
void PairLMPFlow::set_ghost_cutoff()
{
  const bool ours = comm->cutghostuser == ghost_cutoff_set;    // also when neither set one
  if (layout != Layout::deep_ghost) {
    if (ours && ghost_cutoff_set > 0.0) comm->cutghostuser = ghost_cutoff_set = 0.0;
    return;
  }
  if (comm->mode != Comm::SINGLE)
    error->all(FLERR, "Pair style {} with a deep_ghost graph needs 'comm_modify mode single'", force->pair_style);
  const int layers = backend->message_passing_layers();
  const double rc = std::sqrt(*std::max_element(model_cutsq.begin(), model_cutsq.end()));
  const double needed = layers * rc + neighbor->skin;
  if (!ours && comm->cutghostuser < needed)
    error->all(FLERR, "comm_modify cutoff {} is too small for pair style {} with model {}: its {} message-passing "
               "layers reach {} x {} A, so ghost atoms are needed out to {} A (including the {} A skin). Remove "
               "the comm_modify cutoff, or set it to at least {}", comm->cutghostuser, force->pair_style,
               model_path, layers, layers, rc, needed, neighbor->skin, needed);
  if (ours) comm->cutghostuser = ghost_cutoff_set = needed;
  if (comm->me == 0)
    utils::logmesg(lmp, "{}: deep_ghost graph ({} message-passing layers x {} A): ghost atoms out to {} A\n",
                   force->pair_style, layers, rc, comm->cutghostuser);
}

/* ---------------------------------------------------------------------- */

// A many-body model needs every pair inside its cutoff: refuse LAMMPS options that take pairs out of the
// neighbour list, which would silently change the model's energy.
void PairLMPFlow::check_neighbor_options()
{
  const int ntypes = atom->ntypes;
  for (int k = 0; k < neighbor->nex_type; k++) {
    const int i = neighbor->ex1_type[k], j = neighbor->ex2_type[k];
    if (i >= 1 && i <= ntypes && j >= 1 && j <= ntypes && type_map[i] >= 0 && type_map[j] >= 0)
      error->all(FLERR, "Pair style {} cannot honour 'neigh_modify exclude type {} {}': the model needs every "
                 "pair inside its cutoff and would silently lose these. Remove the exclusion (neigh_modify "
                 "exclude none)", force->pair_style, i, j);
  }
  if (neighbor->nex_group || neighbor->nex_mol)
    error->all(FLERR, "Pair style {} cannot honour neigh_modify exclude group/molecule: the model needs every "
               "pair inside its cutoff. Remove the exclusion (neigh_modify exclude none)", force->pair_style);
  if (neighbor->includegroup)
    error->all(FLERR, "Pair style {} cannot honour 'neigh_modify include': the model needs the pairs of every "
               "atom. Remove it (neigh_modify include all)", force->pair_style);
  if (atom->molecular != Atom::ATOMIC && atom->nbonds > 0)
    for (int k = 1; k <= 3; k++)
      if (force->special_lj[k] == 0.0 && force->special_coul[k] == 0.0 && !force->kspace)
        error->all(FLERR, "Pair style {} cannot honour special_bonds weights of 0 (they remove bonded pairs "
                   "from the neighbour list, which the model needs): use special_bonds lj/coul 1.0 1.0 1.0",
                   force->pair_style);
}

/* ---------------------------------------------------------------------- */

double PairLMPFlow::init_one(int i, int j)
{
  const int n = atom->ntypes + 1;
  const double cut = setflag[i][j] ? sqrt(std::max(model_cutsq[i * n + j], model_cutsq[j * n + i])) : 0.0;
  cutghost[i][j] = cutghost[j][i] = cut;    // neighbours of ghost atoms (deep_ghost)
  return cut;
}

/* ---------------------------------------------------------------------- */

// Timing of this style's own work against the model call, for benchmarks (extract_pair in Python).
void *PairLMPFlow::extract(const char *name, int &dim)
{
  dim = 0;
  if (strcmp(name, "compute_seconds") == 0) return &compute_seconds;
  if (strcmp(name, "model_seconds") == 0) return &model_seconds;
  // the last graph on this rank, for benchmarks of the ghost share
  if (strcmp(name, "graph_owned") == 0) return &graph_size[0];
  if (strcmp(name, "graph_nodes") == 0) return &graph_size[1];
  if (strcmp(name, "graph_edges") == 0) return &graph_size[2];
  return nullptr;
}

/* ---------------------------------------------------------------------- */

void PairLMPFlow::compute(int eflag, int vflag)
{
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  ev_init(eflag, vflag);
  if (vflag_atom)
    error->all(FLERR, "Pair style {} gives the global virial only: per-atom stress (compute "
               "stress/atom) is not available", force->pair_style);

  graph_builder->build(list, graph);
  const int n_owned = graph_builder->n_owned();
  graph_size[0] = n_owned;
  graph_size[1] = graph.n_nodes;
  graph_size[2] = graph.n_edges;
  if (n_owned == 0) return;    // no atoms of the model's species here

  const auto model_start = clock::now();
  try {
    if (gpu_edges)
      backend->evaluate_device_edges(graph, n_owned, result);
    else
      backend->evaluate(graph, n_owned, result);
  } catch (const lmpflow::ModelError &e) {
    error->one(FLERR, "{}: {}", force->pair_style, e.what());
  }
  model_seconds += std::chrono::duration<double>(clock::now() - model_start).count();

  double **f = atom->f;
  const int nlocal = atom->nlocal;
  const std::vector<int> &node_atom = graph_builder->node_atom();
  double energy = 0.0, check = 0.0;
  for (int k = 0; k < graph.n_nodes; k++) {
    const int i = node_atom[k];
    for (int d = 0; d < 3; d++) f[i][d] += result.forces[3 * k + d];
    check += result.forces[3 * k] + result.forces[3 * k + 1] + result.forces[3 * k + 2];
    if (i >= nlocal) continue;    // ghost copies: their energy belongs to another rank's owner
    energy += result.atomic_energy[k];
    if (eflag_atom) eatom[i] += result.atomic_energy[k];
  }
  if (!std::isfinite(energy + check))
    error->one(FLERR, "{}: the model returned NaN or infinite energy/forces at step {}: the "
               "simulation has likely blown up (atoms too close; lower the temperature or timestep) "
               "or the structure is far outside the model's training data", force->pair_style,
               update->ntimestep);
  if (eflag_global) eng_vdwl += energy;
  if (vflag_global) {
    const double *w = result.virial;
    virial[0] += w[0];
    virial[1] += w[4];
    virial[2] += w[8];
    virial[3] += 0.5 * (w[1] + w[3]);
    virial[4] += 0.5 * (w[2] + w[6]);
    virial[5] += 0.5 * (w[5] + w[7]);
  }
  compute_seconds += std::chrono::duration<double>(clock::now() - start).count();
}
