#pragma once
// Child processes of `tessera up`: spawn with a parent-death signal, reap, and stop them.
// Every child is tracked by pid; the destructor stops whatever is still running, so no path
// out of `up` (including exceptions) leaves a node behind.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tessera::cli {

struct child_process {
  std::string name;
  pid_t pid = -1;
  bool running = false;
  int status = 0;  // waitpid status once it has exited
  std::vector<std::string> argv;
  std::string log_path;
  std::chrono::steady_clock::time_point started;
};

class child_set {
 public:
  child_set() = default;
  ~child_set();
  child_set(const child_set&) = delete;
  child_set& operator=(const child_set&) = delete;

  // Forks and execs `argv[0]` with `argv`. In the child: signals unblocked and reset, then
  // prctl(PR_SET_PDEATHSIG, SIGTERM), then exit if the parent already died; stdout and stderr
  // go to `log_path` (appended) unless it is empty. Throws std::runtime_error if the log file
  // cannot be opened or fork fails; an exec failure shows up as exit status 127.
  void spawn(const std::string& name, const std::vector<std::string>& argv,
             const std::string& log_path);

  // Starts the exited child `name` again with its argv and log; its entry gets the new pid.
  // Throws like spawn; std::invalid_argument when `name` is unknown or still running.
  void respawn(const std::string& name);

  // Reaps every exited child without blocking; returns the ones that exited just now.
  std::vector<child_process> reap();

  // SIGTERM to every running child, up to `grace` for them to exit, SIGKILL to the rest,
  // then reaps them all. Idempotent.
  void stop_all(std::chrono::milliseconds grace = std::chrono::seconds(5));

  size_t running_count() const;
  const std::vector<child_process>& children() const { return children_; }

 private:
  std::vector<child_process> children_;
};

// "exit code 3", "signal 9 (Killed)": the readable form of a waitpid status.
std::string describe_exit(int status);

}  // namespace tessera::cli
