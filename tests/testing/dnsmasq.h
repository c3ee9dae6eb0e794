// Dnsmasq: a real DNS server in a child process, for tests of DNS resolution.
//
// It runs Debian's /usr/sbin/dnsmasq (package dnsmasq-base, installed by
// scripts/deps.sh) on 127.0.0.1 and a free port, answering only from a hosts
// file that SetRecords() rewrites:
//   - a name in the file: its A and AAAA records, with TTL local_ttl_seconds;
//     a family it has no address of: NOERROR with no records (NODATA);
//   - any other name under kDomain ("svc.test"): NXDOMAIN (--local=/svc.test/);
//   - any other name: REFUSED (dnsmasq has no upstream servers).
// So tests name hosts under svc.test, and can provoke NXDOMAIN, NODATA (the
// domain itself, "svc.test", exists without records) and REFUSED.
//
// Every wait is bounded: a dnsmasq that does not start, or does not answer
// new records, fails the test with its log (dnsmasq logs every query) rather
// than hanging it. dnsmasq exits if its port is taken between choosing the
// port and binding it; the constructor then tries another port.
//
// The child dies with the test: it asks the kernel for SIGKILL when the
// thread that created it exits (PR_SET_PDEATHSIG), so create a Dnsmasq on a
// thread that outlives it, such as the test's own. dnsmasq runs as the
// current user and group (--user, --group): switching to another would clear
// that request.
//
// Thread safety: all methods may be called from any thread; SetRecords() and
// Kill() serialize on an internal mutex. server(), port() and pid() never
// block.

#ifndef WARM_TESTS_TESTING_DNSMASQ_H_
#define WARM_TESTS_TESTING_DNSMASQ_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace warm {
namespace testing {

class Dnsmasq {
 public:
  // Unknown names under this domain are answered NXDOMAIN.
  static constexpr char kDomain[] = "svc.test";
  static constexpr char kBinary[] = "/usr/sbin/dnsmasq";
  // How long dnsmasq may take to answer its first query, and new records.
  static constexpr std::chrono::seconds kStartTimeout{20};
  static constexpr std::chrono::seconds kUpdateTimeout{10};

  // Starts dnsmasq with no records, answering with TTL `local_ttl_seconds`,
  // and waits until it answers. `extra_args` are appended to its command line
  // (e.g. "--listen-address=::1", "--txt-record=NAME,TEXT"). Fails the test
  // and aborts the test binary when it does not start within kStartTimeout.
  explicit Dnsmasq(int local_ttl_seconds,
                   const std::vector<std::string>& extra_args = {});
  // Kills dnsmasq (SIGKILL), reaps it and removes its directory.
  ~Dnsmasq();

  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // "127.0.0.1:41234": a DNS server for CreateCaresResolver().
  const std::string& server() const { return server_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Its temporary directory (hosts file and log), removed by the destructor:
  // for a process that must _exit() without running it.
  const std::string& dir() const { return dir_; }

  // Makes dnsmasq answer exactly these records: each host with its IPv4 and
  // IPv6 addresses (an empty list: the host has none, like a host left out).
  // Rewrites the hosts file atomically (rename), sends SIGHUP, and returns
  // once dnsmasq answers the new records for every host given and no longer
  // answers the hosts of the previous call that are gone. Fails the test
  // (non-fatally) when that takes longer than kUpdateTimeout, or when an
  // address is not an IP address.
  void SetRecords(
      const std::map<std::string, std::vector<std::string>>& host_to_ips);

  // SIGKILL, and waits for dnsmasq to die: its port no longer answers
  // (queries to it are refused by the kernel). SetRecords() then fails.
  void Kill();

  // Starts dnsmasq again after Kill(), on the same port and with the same
  // records and arguments (clients that know the server find it again), and
  // waits until it answers. False, dnsmasq left dead, when the port was
  // taken meanwhile; fails the test and aborts otherwise, as the
  // constructor. True at once when dnsmasq is running.
  bool Restart();

 private:
  // Picks a port, starts dnsmasq on it and waits until it answers. False when
  // dnsmasq exited because the port was taken; fails and aborts otherwise.
  // `port` 0: a free one.
  bool Start(int local_ttl_seconds, const std::vector<std::string>& extra_args,
             int port = 0);
  // SIGKILL and reap, if still running. Requires mu_ (or the constructor).
  void KillAndReap();
  // Whether dnsmasq has exited; reaps it if so.
  bool Exited();
  // "dnsmasq pid 1234 on 127.0.0.1:41234" and, when reaped, how it ended.
  std::string Describe() const;
  // The end of dnsmasq's log, for failure messages.
  std::string LogTail() const;

  std::string dir_;  // temporary directory: hosts file and log
  std::string hosts_path_;
  std::string log_path_;
  std::string server_;
  int port_ = 0;
  pid_t pid_ = -1;
  int local_ttl_seconds_ = 0;
  std::vector<std::string> extra_args_;

  std::mutex mu_;
  bool reaped_ = false;
  int wait_status_ = 0;  // from waitpid() once reaped_
  // The hosts of the last SetRecords() call.
  std::map<std::string, std::vector<std::string>> records_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_DNSMASQ_H_
