import ArgumentParser
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// `vfsbench`: the same workloads on SwiftVFS (vfsmount through FUSE) and on a
/// kernel tmpfs, with the ratio to tmpfs and issue 5's targets; `vfsbench
/// micro`: the VFS core alone, in this process.
@main
struct VfsBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "vfsbench",
    abstract: "Benchmark SwiftVFS through FUSE against a kernel tmpfs.",
    discussion: """
      Mounts the release vfsmount (found next to vfsbench, or --vfsmount PATH)
      and a tmpfs on temporary directories, runs each workload on both
      (alternating, several repetitions), prints a table of median times,
      rates and ratios vfs/tmpfs against issue 5's targets, and writes JSON
      and an SVG chart. Every workload checks what it reads back; a wrong
      byte is reported as WRONG DATA and makes the exit status 1. Needs root
      (mounts, drop_caches) and fio for the fio rows. Both mounts are taken
      down at the end, on failure, and on Ctrl-C.

      Workloads (--only): \(Workload.all.map(\.name).joined(separator: ", ")).
      """,
    subcommands: [Run.self, MicroCommand.self],
    defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "FUSE vs tmpfs workloads (the default).")

  @Flag(help: "Tiny sizes (well under a minute): proves the benchmark works, nothing more.")
  var quick = false

  @Option(help: "Repetitions per workload (median taken). Default 5, quick 2.")
  var reps: Int?

  @Option(help: "Write the results as JSON here.")
  var json: String = "vfsbench.json"

  @Option(help: "Draw the chart (SVG) here.")
  var svg: String = "vfsbench.svg"

  @Option(
    name: .customLong("only"), parsing: .singleValue,
    help: "Run only these workloads (repeatable, or comma-separated).")
  var only: [String] = []

  @Option(
    help: "vfsmount -o options, e.g. \"entry_timeout=0,attr_timeout=0\" or \"writeback_cache\".")
  var vfsOptions: String = ""

  @Option(help: "The vfsmount binary (default: next to vfsbench).")
  var vfsmount: String?

  @Option(help: "Seconds per fio job (default 20; quick 1).")
  var fioSeconds: Int?

  @Option(help: "Largest directory for the scale workload (10k, 100k, 1M up to this; default 1M).")
  var scale: Int?

  @Option(help: "Files for the metadata workload (default 10,000).")
  var files: Int?

  @Option(help: "MiB for the sequential workload (default 512).")
  var seqMib: Int?

  @Option(help: "MiB of the fio file (default 256).")
  var fioMib: Int?

  @Option(help: "Directory for the temporary mount points.")
  var workdir: String = "/tmp"

  @Flag(help: "Also run the micro benchmarks and put them in the JSON.")
  var micro = false

  mutating func validate() throws {
    let names = Set(Workload.all.map(\.name))
    for name in selected where !names.contains(name) {
      throw ValidationError(
        "unknown workload '\(name)'; known: \(names.sorted().joined(separator: ", "))")
    }
    if let reps, reps < 1 { throw ValidationError("--reps must be at least 1") }
  }

  var selected: [String] {
    only.flatMap {
      $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    }
  }

  var sizes: Sizes {
    var s = quick ? Sizes.quick : Sizes()
    if let reps { s.reps = reps }
    if let fioSeconds { s.fioSeconds = fioSeconds }
    if let scale { s.scaleCap = scale }
    if let files { s.files = files }
    if let seqMib { s.seqMiB = seqMib }
    if let fioMib { s.fioMiB = fioMib }
    s.writebackCache = vfsOptions.split(separator: ",").contains("writeback_cache")
    return s
  }

  func run() throws {
    guard geteuid() == 0 else {
      throw BenchFailure("vfsbench needs root (mounts, /proc/sys/vm/drop_caches, /dev/fuse)")
    }
    let sizes = self.sizes
    let binary = vfsmount ?? VfsBench.siblingBinary("vfsmount")
    let workloads = Workload.all.filter { selected.isEmpty || selected.contains($0.name) }
    let machineBefore = Machine.describe()

    Emergency.installHandlers()
    var template = Array("\(workdir)/vfsbench.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
      throw BenchFailure("mkdtemp in \(workdir): \(errnoText())")
    }
    let base = String(cString: made)
    Emergency.baseDir = strdup(base)
    Emergency.logFile = strdup(base + "/vfsmount.log")
    let results = Results()
    var mounts: [BenchMount] = []
    defer {
      for m in mounts.reversed() { m.unmount() }
      unlink(base + "/vfsmount.log")
      rmdir(base)
    }
    let vfs: BenchMount
    let tmpfs: BenchMount
    do {
      vfs = try BenchMount.vfs(
        binary: binary, options: vfsOptions, at: base + "/vfs", logPath: base + "/vfsmount.log")
      mounts.append(vfs)
      tmpfs = try BenchMount.tmpfs(at: base + "/tmpfs")
      mounts.append(tmpfs)
    }
    let pid = vfs.pid!
    if let rss = procStatusBytes(pid, "VmRSS") {
      results.addMemory("daemon RSS after mount", Double(rss))
    }
    log(
      "vfsbench: vfsmount pid \(pid) at \(vfs.path) (-o \(vfsOptions.isEmpty ? "defaults" : vfsOptions)), tmpfs at \(tmpfs.path)"
    )

    for w in workloads {
      let reps = w.repetitions(sizes)
      let peakReset = resetPeakRSS(pid)
      let rssStart = procStatusBytes(pid, "VmRSS") ?? 0
      let started = nowNanos()
      do {
        for rep in 0..<reps {
          for m in [vfs, tmpfs] {
            log("  \(w.name): repetition \(rep + 1)/\(reps) on \(m.kind.rawValue)")
            try w.run(
              Context(
                kind: m.kind, root: m.path, rep: rep, daemonPid: m.kind == .vfs ? pid : nil,
                sizes: sizes, results: results))
            guard vfs.alive else { throw BenchFailure("the vfsmount daemon died") }
          }
        }
      } catch {
        results.failures.append("\(w.name): \(error)")
        log("vfsbench: \(w.name) failed: \(error)")
        for m in [vfs, tmpfs] {
          for name in ["meta", "tree", "small", "seq.dat", "fio.dat", "scale", "sparse.dat"] {
            removeTree(m.path + "/" + name)
          }
        }
        if !vfs.alive {
          let tail = vfs.logPath.flatMap { readFile($0) }?.split(separator: "\n").suffix(5)
          results.failures.append(
            "vfsmount died; the end of its log:\n" + (tail?.joined(separator: "\n") ?? ""))
          break
        }
      }
      if peakReset, let hwm = procStatusBytes(pid, "VmHWM") {
        var note = "RSS at start \(formatBytes(Double(rssStart)))"
        if w.name == "seq" {
          let data = Double(sizes.seqMiB) * 1_048_576
          let allowed = data * 1.1 + 32 * 1_048_576
          note +=
            "; holding \(sizes.seqMiB) MiB of data; target <= data + 10% + 32 MiB = \(formatBytes(allowed)): \(Double(hwm) <= allowed ? "meets" : "MISSES")"
        }
        results.addMemory("peak RSS (VmHWM) during \(w.name)", Double(hwm), note: note)
      }
      log("  \(w.name): \(((Double(nowNanos() - started)) / 1e9).short) s")
    }

    var microResults: ([Micro.Result], [(String, Double)])?
    if micro { microResults = try Micro.run(quick: quick) }
    let machine = Machine.describe(before: machineBefore)
    let settings: [String: Any] = [
      "vfs_options": vfsOptions, "quick": quick, "reps": sizes.reps, "files": sizes.files,
      "tree": "depth \(sizes.treeDepth), fan-out \(sizes.treeFanout)",
      "small_files": sizes.smallFiles, "seq_mib": sizes.seqMiB, "fio_mib": sizes.fioMiB,
      "fio_seconds": sizes.fioSeconds, "scale_cap": sizes.scaleCap,
      "workloads": workloads.map(\.name), "vfsmount": binary,
    ]
    // Unmount before reporting (the defer does it again harmlessly).
    for m in mounts.reversed() { m.unmount() }
    mounts.removeAll()

    print("")
    print(
      "SwiftVFS vs tmpfs — vfsmount -o \(vfsOptions.isEmpty ? "(defaults)" : vfsOptions); \(machine["summary"] as? String ?? "")"
    )
    Report.printTable(results)
    Report.printMemory(results)
    if let (r, m) = microResults {
      print("")
      Micro.printTable(r, m)
    }
    for n in results.notes { print("note: \(n)") }
    for f in results.failures { print("FAILED: \(f)") }

    let data = Report.json(
      results, machine: machine, settings: settings, micro: microResults?.0,
      microMemory: microResults?.1)
    try Report.write(data, to: json)
    let subtitle =
      "vfsmount -o \(vfsOptions.isEmpty ? "defaults" : vfsOptions); \(machine["summary"] as? String ?? ""); median of \(sizes.reps) reps"
    try Report.write(Data(Report.svg(results, subtitle: subtitle).utf8), to: svg)
    print("\nwrote \(json) and \(svg)")
    if !results.failures.isEmpty || results.rows.contains(where: \.wrongData) {
      throw ExitCode(1)
    }
  }
}

struct MicroCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "micro", abstract: "Micro benchmarks of the VFS core, in-process, without FUSE.")

  @Flag(help: "Small counts (a few seconds).")
  var quick = false

  @Option(help: "Write the results as JSON here.")
  var json: String?

  func run() throws {
    let (results, memory) = try Micro.run(quick: quick)
    Micro.printTable(results, memory)
    if let json {
      let data = Report.json(
        Results(), machine: Machine.describe(), settings: ["quick": quick], micro: results,
        microMemory: memory)
      try Report.write(data, to: json)
    }
  }
}

extension VfsBench {
  /// A binary in the same directory as this one.
  static func siblingBinary(_ name: String) -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return name }
    let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return (exe as NSString).deletingLastPathComponent + "/" + name
  }
}

func log(_ s: String) {
  let line = s + "\n"
  line.withCString { _ = write(2, $0, strlen($0)) }
}

/// What the machine was: kernel, CPU, cores, memory, load (the machine is
/// shared, so the load average before and after goes into the report).
enum Machine {
  static func describe(before: [String: Any]? = nil) -> [String: Any] {
    var u = utsname()
    uname(&u)
    let kernel = withUnsafeBytes(of: u.release) {
      String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
    }
    let cpu =
      readFile("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
      .map {
        String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(
          in: .whitespaces)
      }
      ?? "?"
    let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let ram = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    let load =
      readFile("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    var d: [String: Any] = [
      "kernel": kernel, "cpu": cpu, "cores": cores, "ram_bytes": ram, "loadavg": load,
      "date_utc": ISO8601DateFormatter().string(from: Date()),
    ]
    if let before { d["loadavg_at_start"] = before["loadavg"] }
    d["summary"] =
      "Linux \(kernel), \(cpu), \(cores) cores, \(formatBytes(ram)) RAM, load \(before?["loadavg"] as? String ?? load) -> \(load)"
    return d
  }
}
