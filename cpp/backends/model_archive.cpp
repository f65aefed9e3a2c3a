// lmpflow: reading and checking zip model files (see model_archive.h).
#include "backends/model_archive.h"

#include "backends/backend.h"

#include <unistd.h>

#ifdef LMPFLOW_ZLIB
#include <zlib.h>
#endif

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

namespace fs = std::filesystem;

namespace lmpflow {
namespace {

const char *const kDamaged = "the model file is damaged: recompile it or copy it again";

uint32_t crc32(const char *data, size_t n)
{
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ (uint8_t) data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint64_t fnv1a(std::string_view s)
{
  uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ (uint8_t) ch) * 1099511628211ull;
  return h;
}

// The raw deflate stream of a zip entry, inflated; false if it is corrupt (or zlib is missing).
bool inflate_raw(std::string_view packed, uint64_t size, std::string &out)
{
#ifdef LMPFLOW_ZLIB
  out.assign(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(packed.data()));
  z.avail_in = packed.size();
  z.next_out = reinterpret_cast<Bytef *>(out.data());
  z.avail_out = out.size();
  const int rc = inflate(&z, Z_FINISH);
  const bool ok = rc == Z_STREAM_END && z.total_out == size;
  inflateEnd(&z);
  return ok;
#else
  (void) packed, (void) size, (void) out;
  return false;
#endif
}

// Little-endian fields of the zip format, bounds-checked against the file.
struct Reader {
  const std::string &bytes;
  const std::string &path;

  [[noreturn]] void damaged(const std::string &what) const
  {
    throw ModelError("model file '" + path + "': " + kDamaged + " (" + what + ")");
  }
  uint64_t get(uint64_t at, int width) const
  {
    if (at + width > bytes.size()) damaged("a record points past the end of the file");
    uint64_t v = 0;
    for (int k = width - 1; k >= 0; k--) v = (v << 8) | (uint8_t) bytes[at + k];
    return v;
  }
  uint16_t u16(uint64_t at) const { return get(at, 2); }
  uint32_t u32(uint64_t at) const { return get(at, 4); }
  uint64_t u64(uint64_t at) const { return get(at, 8); }
};

// Live unpacked folders, for the exit-time cleanup (never destroyed: static destructors run in any order).
std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<UnpackedArchive>> &live_folders()
{
  static auto *folders = new std::map<std::string, std::weak_ptr<UnpackedArchive>>;
  return *folders;
}

bool escapes(const fs::path &rel)
{
  if (rel.is_absolute()) return true;
  for (const auto &part : rel)
    if (part == "..") return true;
  return false;
}

struct RemoveAtExit {
  ~RemoveAtExit()
  {
    std::error_code ignored;
    for (const auto &kv : live_folders()) fs::remove_all(kv.first, ignored);
  }
} remove_at_exit;

}    // namespace

ModelArchive::ModelArchive(const std::string &path) : path_(path)
{
  {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw ModelError("cannot open model file '" + path +
                       "': check the path (compile a trained model with nequip-compile first)");
    bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (bytes_.size() < 4 || bytes_.compare(0, 4, "PK\x03\x04") != 0)
    throw ModelError("model file '" + path_ + "' is not a nequip-compiled model (not a zip archive): it is "
                     "corrupt or of another format; recompile it with nequip-compile");
  const Reader r{bytes_, path_};

  // End of central directory: the last record, followed only by a comment of up to 64 KiB.
  const uint64_t n = bytes_.size();
  uint64_t eocd = 0;
  bool found = false;
  for (uint64_t at = n >= 22 ? n - 22 : 0; at + 65557 >= n && at > 0; at--)
    if (r.u32(at) == 0x06054b50) {
      eocd = at;
      found = true;
      break;
    }
  if (!found) r.damaged("no zip directory at its end: truncated?");
  uint64_t count = r.u16(eocd + 10), dir_size = r.u32(eocd + 12), dir_at = r.u32(eocd + 16);
  if (eocd >= 20 && r.u32(eocd - 20) == 0x07064b50) {    // zip64 locator
    const uint64_t rec = r.u64(eocd - 12);
    if (r.u32(rec) != 0x06064b50) r.damaged("bad zip64 directory record");
    count = r.u64(rec + 32);
    dir_size = r.u64(rec + 40);
    dir_at = r.u64(rec + 48);
  }
  if (dir_at + dir_size > n) r.damaged("the zip directory lies past the end of the file");
  digest_ = fnv1a(std::string_view(bytes_).substr(dir_at, dir_size));

  uint64_t at = dir_at;
  for (uint64_t k = 0; k < count; k++) {
    if (r.u32(at) != 0x02014b50) r.damaged("bad zip directory entry");
    const uint16_t method = r.u16(at + 10);
    const uint32_t crc = r.u32(at + 16);
    uint64_t packed = r.u32(at + 20), size = r.u32(at + 24), local = r.u32(at + 42);
    const uint16_t name_len = r.u16(at + 28), extra_len = r.u16(at + 30), comment_len = r.u16(at + 32);
    if (at + 46 + name_len > n) r.damaged("bad zip directory entry");
    Entry e;
    e.name = bytes_.substr(at + 46, name_len);
    // zip64 extra field: the 64-bit values of whichever fields above are 0xFFFFFFFF, in this order
    for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint16_t id = r.u16(x), len = r.u16(x + 2);
      if (id == 0x0001) {
        uint64_t f = x + 4;
        if (size == 0xFFFFFFFFu) size = r.u64(f), f += 8;
        if (packed == 0xFFFFFFFFu) packed = r.u64(f), f += 8;
        if (local == 0xFFFFFFFFu) local = r.u64(f);
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;

    if (r.u32(local) != 0x04034b50) r.damaged("entry '" + e.name + "' has no local header");
    e.offset = local + 30 + r.u16(local + 26) + r.u16(local + 28);
    e.size = size;
    if (e.offset + packed > n) r.damaged("entry '" + e.name + "' is cut short");
    std::string_view data(bytes_.data() + e.offset, packed);
    if (method == 8) {    // deflate
      e.compressed = true;
#ifdef LMPFLOW_ZLIB
      if (!inflate_raw(data, size, e.inflated)) r.damaged("entry '" + e.name + "' does not inflate");
      data = e.inflated;
#else
      entries_.push_back(std::move(e));    // unchecked: this build has no zlib
      continue;
#endif
    } else if (method != 0 || packed != size) {
      r.damaged("entry '" + e.name + "' has an unknown compression method");
    }
    if (crc32(data.data(), data.size()) != crc) r.damaged("entry '" + e.name + "' fails its CRC check");
    entries_.push_back(std::move(e));
  }
}

bool ModelArchive::has_entry_containing(std::string_view fragment) const
{
  for (const auto &e : entries_)
    if (e.name.find(fragment) != std::string::npos) return true;
  return false;
}

std::string_view ModelArchive::contents(const Entry &entry) const
{
  if (entry.compressed) {
    if (entry.inflated.size() != entry.size)
      throw ModelError("model file '" + path_ + "' has a compressed entry ('" + entry.name + "') and lmpflow was "
                       "built without zlib: install zlib's headers (zlib1g-dev, zlib-devel) and reinstall lmpflow");
    return entry.inflated;
  }
  return std::string_view(bytes_).substr(entry.offset, entry.size);
}

std::shared_ptr<UnpackedArchive> ModelArchive::unpack() const
{
  const char *tmp = std::getenv("TMPDIR");
  char name[64];
  snprintf(name, sizeof(name), "lmpflow-model-%ld-%016llx", (long) getpid(), (unsigned long long) digest_);
  const std::string dir = (fs::path(tmp && *tmp ? tmp : "/tmp") / name).string();

  std::lock_guard<std::mutex> lock(registry_mutex);
  if (auto live = live_folders()[dir].lock()) return live;
  try {
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    for (const auto &e : entries_) {
      const fs::path rel(e.name);
      if (escapes(rel))
        throw ModelError("model file '" + path_ + "' has an entry outside its folder ('" + e.name +
                         "'): " + kDamaged);
      const fs::path out = fs::path(dir) / rel;
      if (!e.name.empty() && e.name.back() == '/') {
        fs::create_directories(out);
        continue;
      }
      fs::create_directories(out.parent_path());
      std::ofstream file(out, std::ios::binary | std::ios::trunc);
      const auto data = contents(e);
      file.write(data.data(), data.size());
      if (!file) throw ModelError("cannot write '" + out.string() + "': is " + dir + " full or read-only? Set TMPDIR");
    }
  } catch (const fs::filesystem_error &err) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    throw ModelError("cannot unpack model '" + path_ + "' into " + dir + " (" + err.what() +
                     "): set TMPDIR to a writable folder");
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    throw;
  }
  auto unpacked = std::make_shared<UnpackedArchive>(dir);
  live_folders()[dir] = unpacked;
  return unpacked;
}

void UnpackedArchive::remove()
{
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

UnpackedArchive::~UnpackedArchive()
{
  remove();
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto it = live_folders().find(dir_);
  if (it != live_folders().end() && it->second.expired()) live_folders().erase(it);
}

}    // namespace lmpflow
