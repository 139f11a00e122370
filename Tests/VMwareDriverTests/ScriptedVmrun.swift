import Foundation
import Testing
import LabKit
@testable import VMwareDriver

/// A scripted vmrun stand-in: a bash script in a temp folder, driven by control files.
///
/// For each call it appends its argv (fields separated by \u{1f}) to `argv.log`, then, for
/// the command `<cmd>` (the first word after the -T/-vp/-gu/-gp flags):
/// - `<cmd>.hang`: hang forever, ignoring SIGTERM;
/// - `<cmd>.noise`: print this text first (log noise);
/// - `<cmd>.failcount` + `<cmd>.failmsg`: fail N times with `Error: <msg>` (exit 255), then succeed;
/// - `<cmd>.error`: always fail with `Error: <content>` (exit 255), CRLF when `crlf` exists;
/// - `<cmd>.hook`: run `bash <cmd>.hook <args...>` (may print, exit, or change files);
/// - `<cmd>.out`: print on success. `list` defaults to `Total running VMs: 0`.
struct ScriptedVmrun {
    let dir: TempDir
    var script: String { dir.file("bin/vmrun") }

    init() throws {
        dir = try TempDir()
        let ctl = dir.file("ctl")
        try FileManager.default.createDirectory(atPath: ctl, withIntermediateDirectories: true)
        let body = """
        #!/usr/bin/env bash
        CTL='\(ctl)'
        { for a in "$@"; do printf '%s\\037' "$a"; done; printf '\\n'; } >> "$CTL/argv.log"
        args=("$@")
        i=0
        while [ $i -lt ${#args[@]} ]; do
          case "${args[$i]}" in -T|-vp|-gu|-gp) i=$((i+2));; *) break;; esac
        done
        cmd="${args[$i]}"
        rest=("${args[@]:$((i+1))}")
        nl=$'\\n'; [ -e "$CTL/crlf" ] && nl=$'\\r\\n'
        if [ -e "$CTL/$cmd.noise" ]; then printf '%s%s' "$(cat "$CTL/$cmd.noise")" "$nl"; fi
        if [ -e "$CTL/$cmd.hang" ]; then trap '' TERM; while :; do sleep 0.1; done; fi
        if [ -e "$CTL/$cmd.failcount" ]; then
          n=$(cat "$CTL/$cmd.failcount")
          if [ "$n" -gt 0 ]; then
            echo $((n-1)) > "$CTL/$cmd.failcount"
            printf 'Error: %s%s' "$(cat "$CTL/$cmd.failmsg")" "$nl"; exit 255
          fi
        fi
        if [ -e "$CTL/$cmd.error" ]; then printf 'Error: %s%s' "$(cat "$CTL/$cmd.error")" "$nl"; exit 255; fi
        if [ -e "$CTL/$cmd.hook" ]; then bash "$CTL/$cmd.hook" "${rest[@]}" || exit $?; fi
        if [ -e "$CTL/$cmd.out" ]; then cat "$CTL/$cmd.out";
        elif [ "$cmd" = list ]; then printf 'Total running VMs: 0%s' "$nl"; fi
        exit 0
        """
        try dir.write("bin/vmrun", body)
        chmod(script, 0o755)
    }

    var ctl: String { dir.file("ctl") }

    func set(_ name: String, _ text: String = "") throws { try dir.write("ctl/\(name)", text) }
    func clear(_ name: String) { try? FileManager.default.removeItem(atPath: dir.file("ctl/\(name)")) }

    /// The argv of every call so far, without the vmrun path.
    func calls() -> [[String]] {
        guard let text = try? String(contentsOfFile: dir.file("ctl/argv.log"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { line in
            line.split(separator: "\u{1f}", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
    }

    /// Commands (after `-T x`) in call order.
    func commands() -> [String] { calls().compactMap { $0.count > 2 ? $0[2] : nil } }

    func vmrun(product: VMwareProduct = .ws, timeouts: VMwareTimeouts = VMwareTimeouts(startSeconds: 2, softStopSeconds: 1, defaultSeconds: 2),
               tries: Int = 3) -> Vmrun {
        Vmrun(path: script, product: product, timeouts: timeouts, retry: VmrunRetryPolicy(tries: tries, delay: .milliseconds(50)))
    }

    /// Makes a VM folder with a VMX (and optional .vmsd), returns the VMX path.
    func makeVM(_ name: String, vmx: String? = nil, vmsd: String? = nil) throws -> String {
        try dir.write("vms/\(name)/\(name).vmx", vmx ?? ".encoding = \"UTF-8\"\ndisplayName = \"\(name)\"\nmemsize = \"1024\"\nethernet0.generatedAddress = \"00:0c:29:00:00:01\"\n")
        if let vmsd { try dir.write("vms/\(name)/\(name).vmsd", vmsd) }
        return dir.file("vms/\(name)/\(name).vmx")
    }

    func cleanup() { dir.cleanup() }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
