// The `syncr` subcommands other than `daemon`, each a function that returns
// the process exit code (0 ok, 1 runtime failure, 2 usage or config error).
#pragma once

#include <string>

namespace syncr {

int CmdCheck(const std::string& config_flag);
int CmdStatus(const std::string& config_flag, bool json);
int CmdHistory(const std::string& config_flag, const std::string& path, bool json);
int CmdRestore(const std::string& config_flag, const std::string& path, int generation);
/// Exit codes as diff(1): 0 equal, 1 different, 2 trouble.
int CmdDiff(const std::string& config_flag, const std::string& path, int generation,
            const std::string& peer);
int CmdResolve(const std::string& config_flag, const std::string& path, const std::string& take);
int CmdLog(const std::string& config_flag, const std::string& path, int count);
/// SPEC 12: 0 once every node holds PATH's current version and its actions
/// succeeded there; 1 naming the nodes that did not (failed, or not done
/// within `timeout_s`).
int CmdWait(const std::string& config_flag, const std::string& path, int timeout_s);
int CmdDaemon(const std::string& config_flag, const std::string& log_level);
int CmdConnect(const std::string& config_flag, const std::string& socket_flag);
/// The embedded demo: two nodes in a temp folder. `self` is this binary.
int CmdDemo(const std::string& self);

}  // namespace syncr
