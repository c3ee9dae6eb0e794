// A main() for the fuzz targets in the builds without libFuzzer (gcc, and the
// ASan and TSan builds): runs LLVMFuzzerTestOneInput once on every file of the
// directories (or files) given, so each committed seed and past crasher is a
// regression test (ctest fuzz_NAME_replay). A crash fails the run the way it
// would under libFuzzer; a missing directory counts as empty, since
// regressions/NAME exists only once a bug has been found.

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The regular files under `path` (or `path` itself), sorted so that a failing
// run names the same file first every time.
void CollectFiles(const std::string& path, std::vector<std::string>* files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return;
  if (S_ISREG(st.st_mode)) {
    files->push_back(path);
    return;
  }
  if (!S_ISDIR(st.st_mode)) return;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> entries;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    entries.push_back(path + "/" + name);
  }
  closedir(dir);
  std::sort(entries.begin(), entries.end());
  for (const std::string& entry : entries) CollectFiles(entry, files);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) CollectFiles(argv[i], &files);
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 1;
    }
    // A copy of exactly the file's size, so that ASan reports a read past
    // the input's end as libFuzzer would.
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    std::vector<uint8_t> input(bytes.begin(), bytes.end());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", file.c_str(),
                 input.size());
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::fprintf(stderr, "replay: %zu inputs ran\n", files.size());
  return files.empty() ? 1 : 0;
}
