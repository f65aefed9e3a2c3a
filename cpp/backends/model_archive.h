// lmpflow: model files that are zip archives (AOTInductor .pt2, TorchScript .pth), read whole and
// checked entry by entry against their CRC-32s before any ML framework sees them: libtorch's own
// reader skips the CRCs, so a damaged copy would load and give wrong numbers. No torch here.
#ifndef LMPFLOW_MODEL_ARCHIVE_H
#define LMPFLOW_MODEL_ARCHIVE_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lmpflow {

class UnpackedArchive;

class ModelArchive {
 public:
  struct Entry {
    std::string name;
    uint64_t offset = 0, size = 0;    // of the stored bytes in the file (uncompressed entries)
    std::string inflated;             // the contents of a deflated entry (TorchScript files have some)
    bool compressed = false;
  };

  // Reads and verifies `path`; throws ModelError saying what is wrong with the file and how to fix it.
  explicit ModelArchive(const std::string &path);

  const std::string &path() const { return path_; }
  const std::vector<Entry> &entries() const { return entries_; }
  bool has_entry_containing(std::string_view fragment) const;
  std::string_view contents(const Entry &entry) const;

  // Writes the entries into a fresh folder under $TMPDIR (or /tmp). The folder's name depends on the
  // archive's contents, so loading the same model again in this process gives the same file names.
  std::shared_ptr<UnpackedArchive> unpack() const;

 private:
  std::string path_;
  std::string bytes_;
  std::vector<Entry> entries_;
  uint64_t digest_ = 0;    // of the central directory, which holds every entry's name, size and CRC
};

// An unpacked archive on disk, removed when the last owner lets go, and at exit() for runs that end
// with a LAMMPS error (LAMMPS's exit path skips the pair style's destructor).
class UnpackedArchive {
 public:
  explicit UnpackedArchive(std::string dir) : dir_(std::move(dir)) {}
  ~UnpackedArchive();
  UnpackedArchive(const UnpackedArchive &) = delete;
  UnpackedArchive &operator=(const UnpackedArchive &) = delete;

  const std::string &dir() const { return dir_; }
  // Removes the files now (once the framework has read everything it needs).
  void remove();

 private:
  std::string dir_;
};

}    // namespace lmpflow
#endif
