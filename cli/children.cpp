#include "cli/children.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace tessera::cli {
namespace {

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(pid_t parent, int log_fd, const std::vector<char*>& argv) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) _exit(126);
  if (getppid() != parent) _exit(0);  // the parent died before prctl took effect
  if (log_fd >= 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
  }
  execv(argv[0], argv.data());
  const char msg[] = "tessera: exec of node binary failed\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(127);
}

}  // namespace

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return "signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "status " + std::to_string(status);
}

child_set::~child_set() {
  stop_all();
}

namespace {

// Forks and execs argv with stdout/stderr appended to log_path (unless empty); returns the pid.
pid_t start_child(const std::vector<std::string>& argv, const std::string& log_path) {
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
      throw std::runtime_error("tessera.io_error: cannot open log file " + log_path + ": " +
                               std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) exec_child(parent, log_fd, args);
  int fork_errno = errno;
  if (log_fd >= 0) ::close(log_fd);
  if (pid < 0)
    throw std::runtime_error("tessera.internal: fork failed: " +
                             std::string(std::strerror(fork_errno)));
  return pid;
}

}  // namespace

void child_set::spawn(const std::string& name, const std::vector<std::string>& argv,
                      const std::string& log_path) {
  auto pid = start_child(argv, log_path);
  children_.push_back({name, pid, true, 0, argv, log_path, std::chrono::steady_clock::now()});
}

void child_set::respawn(const std::string& name) {
  for (auto& c : children_) {
    if (c.name != name) continue;
    if (c.running) throw std::invalid_argument("node " + name + " is still running");
    c.pid = start_child(c.argv, c.log_path);
    c.running = true;
    c.status = 0;
    c.started = std::chrono::steady_clock::now();
    return;
  }
  throw std::invalid_argument("no node " + name);
}

std::vector<child_process> child_set::reap() {
  std::vector<child_process> exited;
  for (auto& c : children_) {
    if (!c.running) continue;
    int status = 0;
    pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid || (r < 0 && errno == ECHILD)) {
      c.running = false;
      c.status = status;
      exited.push_back(c);
    }
  }
  return exited;
}

size_t child_set::running_count() const {
  size_t n = 0;
  for (const auto& c : children_) n += c.running ? 1 : 0;
  return n;
}

void child_set::stop_all(std::chrono::milliseconds grace) {
  reap();
  for (const auto& c : children_)
    if (c.running) ::kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (running_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    reap();
  }
  for (auto& c : children_) {
    if (!c.running) continue;
    ::kill(c.pid, SIGKILL);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    c.running = false;
    c.status = status;
  }
}

}  // namespace tessera::cli
