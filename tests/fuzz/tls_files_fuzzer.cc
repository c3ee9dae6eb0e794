// Fuzzes what warm does with the contents of TLS files: LoadTlsMaterial()
// reading a CA file, a certificate chain and a key, parsing them with
// OpenSSL, matching the key to the certificate, checking validity times and
// verifying the chain. The files are written to a private temporary
// directory for each input, so that the real entry point runs, file reading
// included. It must never crash, and:
//   - a refusal is InvalidArgument or FailedPrecondition, starts "TLS files: "
//     and names a file it was given;
//   - no refusal echoes key material (a base64 line of the key file);
//   - accepted material with a certificate is valid at `now`.
//
// Input: one flags byte (bit 0: a ca_file; bit 1: cert_file and key_file;
// bit 2: must_chain_to_ca; bits 3-5: which `now`), then the CA file, the
// certificate file and the key file, separated by NUL bytes (PEM is text;
// the key file, last, may hold NULs).

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/tls/tls.h"

namespace {

void Check(bool condition, const char* what, const std::string& detail) {
  if (condition) return;
  std::fprintf(stderr, "tls_files_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

constexpr const char* kFiles[] = {"ca.pem", "cert.pem", "key.pem"};

std::string* directory = nullptr;

// Removes the files and the directory at exit, so that replay runs in CI
// leave nothing in TMPDIR.
void RemoveDirectory() {
  for (const char* name : kFiles) {
    unlink(absl::StrCat(*directory, "/", name).c_str());
  }
  rmdir(directory->c_str());
}

// The directory the files are written to, made once per process.
const std::string& Directory() {
  if (directory == nullptr) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(base != nullptr ? base : "/tmp", "/warm_tls_fuzz.XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("tls_files_fuzzer: mkdtemp");
      std::abort();
    }
    directory = new std::string(pattern);
    std::atexit(RemoveDirectory);
  }
  return *directory;
}

std::string WriteFile(const std::string& name, absl::string_view contents) {
  const std::string path = absl::StrCat(Directory(), "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  Check(static_cast<bool>(out), "cannot write", path);
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  std::vector<absl::string_view> parts =
      absl::StrSplit(rest, absl::MaxSplits('\0', 2));
  parts.resize(3);

  warm::TlsOptions options;
  if (flags & 1) options.ca_file = WriteFile(kFiles[0], parts[0]);
  if (flags & 2) {
    options.cert_file = WriteFile(kFiles[1], parts[1]);
    options.key_file = WriteFile(kFiles[2], parts[2]);
  }
  // 2023, 2027, 2096, 2255 (the clamp), 1970.
  static constexpr int64_t kNow[] = {1'700'000'000, 1'800'000'000,
                                     4'000'000'000, 9'000'000'000, 0};
  const std::chrono::system_clock::time_point now{
      std::chrono::seconds(kNow[((flags >> 3) & 7) % 5])};
  const bool must_chain = (flags & 4) != 0;

  const absl::StatusOr<warm::internal::TlsMaterial> material =
      warm::internal::LoadTlsMaterial(options, now, must_chain);
  if (material.ok()) {
    if (!options.cert_file.empty()) {
      Check(material->not_before <= now && now <= material->not_after,
            "accepted a certificate not valid now", material->subject);
      Check(material->cert_pem == parts[1] && material->key_pem == parts[2],
            "material is not the files' contents", options.cert_file);
    }
    return 0;
  }
  const absl::Status& status = material.status();
  Check(status.code() == absl::StatusCode::kInvalidArgument ||
            status.code() == absl::StatusCode::kFailedPrecondition,
        "unexpected code", status.ToString());
  Check(absl::StartsWith(status.message(), "TLS files: "), "bad message",
        status.ToString());
  Check((!options.ca_file.empty() &&
         absl::StrContains(status.message(), options.ca_file)) ||
            (!options.cert_file.empty() &&
             (absl::StrContains(status.message(), options.cert_file) ||
              absl::StrContains(status.message(), options.key_file))),
        "error names no file", status.ToString());
  for (absl::string_view line : absl::StrSplit(parts[2], '\n')) {
    // A base64 line of the key (no message text looks like one).
    if (line.size() >= 16 && std::all_of(line.begin(), line.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '+' || c == '/' || c == '=';
        })) {
      Check(!absl::StrContains(status.message(), line),
            "error echoes key material", status.ToString());
    }
  }
  return 0;
}
