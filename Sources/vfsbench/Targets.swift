import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One file system under test, as data: the column it fills, how it is
/// mounted (and so unmounted), and what it can do. One target of a suite is
/// the reference, the denominator of every ratio.
struct BenchTarget {
  /// How the target is mounted; `BenchMount` mounts and unmounts each kind.
  enum Mounter {
    /// A kernel tmpfs (mode 1777).
    case tmpfs
    /// `vfsmount -f [-o OPTIONS] DIR`: memfs through FUSE.
    case vfsmount(options: String)
    /// `vfsmount -f -t ext2 [-o OPTIONS] IMAGE DIR`.
    case vfsmountExt2(options: String)
    /// `mount -t ext2 -o loop IMAGE DIR`: the kernel's ext2 on a loop device.
    case kernelExt2
    /// `fuse2fs IMAGE DIR -f`: e2fsprogs' FUSE driver.
    case fuse2fs
  }

  /// The column name ("vfs", "tmpfs", "ext2", "fuse2fs", "native"...).
  let name: String
  let mounter: Mounter
  /// The denominator of the ratios.
  var isReference = false
  /// Mount read-only (the read-only phase of the ext2 suite).
  var readOnly = false
  /// When mounting fails, the target cannot write: its rows in this phase
  /// read "n/a (read-only)" with the daemon's reason, instead of the run
  /// failing. (vfsmount's ext2 is read-only today.)
  var mayBeReadOnly = false

  /// Whether the target is one of our vfsmount daemons (RSS, /proc/vfs/requests).
  var isVfsmount: Bool {
    switch mounter {
    case .vfsmount, .vfsmountExt2: return true
    default: return false
    }
  }

  /// Whether the target lives on an image file (each on its own tmpfs).
  var usesImage: Bool {
    switch mounter {
    case .vfsmountExt2, .kernelExt2, .fuse2fs: return true
    default: return false
    }
  }

  /// Whether it is served by a daemon we start as a child (pid known).
  var isDaemon: Bool {
    switch mounter {
    case .vfsmount, .vfsmountExt2, .fuse2fs: return true
    default: return false
    }
  }
}

/// One pass of a suite: the targets mounted together and the workloads run
/// on them (alternating, repetition by repetition). `seed` fills an image
/// with the reference file system before the targets are mounted on copies
/// of it (the read-only phase).
struct Phase {
  let name: String
  let targets: [BenchTarget]
  let workloads: [Workload]
  /// Writes the tree the read-only workloads read, on the reference's
  /// writable mount of a fresh image; the targets then mount copies.
  var seed: ((String, Sizes) throws -> Void)?
}

/// A preset chosen by `--suite`: the targets side by side, the reference,
/// where the ratio targets come from, and notes for the report.
struct Suite {
  enum Verdict {
    /// Ratio to the reference against a target per row (issue 5 or 11).
    case ratioTargets(source: String, byKey: [String: Double]?)
    /// One target must be faster than another (issue 12: vfs vs fuse2fs).
    case fasterThan(target: String, other: String)
  }

  let name: String
  let title: String
  let phases: [Phase]
  let verdict: Verdict
  var notes: [String] = []

  /// The columns in order: every target of every phase, first seen first.
  var columns: [String] {
    var seen: [String] = []
    for p in phases { for t in p.targets where !seen.contains(t.name) { seen.append(t.name) } }
    return seen
  }

  var reference: String {
    phases.lazy.flatMap(\.targets).first(where: \.isReference)?.name ?? "tmpfs"
  }

  /// The target ratio of a row, or nil: issue 5's (recorded by the
  /// workloads) for memfs, issue 11's table for engines, none for ext2.
  func target(_ row: Row) -> Double? {
    switch verdict {
    case .ratioTargets(_, let byKey):
      guard let byKey else { return row.target }
      return byKey[row.key]
    case .fasterThan: return nil
    }
  }

  var hasTargets: Bool {
    if case .ratioTargets = verdict { return true }
    return false
  }

  static let names = ["memfs", "engines", "ext2"]

  /// Issue 11's "Targets" table: ratio to tmpfs per row, for every engine.
  static let issue11Targets: [String: Double] = [
    "create": 6, "stat-cold": 8, "unlink": 4, "mkdir-tree": 8, "rmdir-tree": 5,
    "small-write": 5, "small-read": 9, "seq-write": 1.5, "seq-read-cold": 1.5,
    "seq-read-direct": 1.5, "fio-randread-1j": 1.2, "fio-randread-1j-direct": 5,
    "fio-randwrite-1j": 5, "fio-randwrite-1j-direct": 6,
  ]

  /// The engines a vfsmount may offer, one column each, in order. A column
  /// appears only when `vfsmount --help` mentions `requires`. The uring
  /// column needs enable_uring at Y (scripts/bench sets it for this suite);
  /// if the kernel refuses the ring, that mount serves on read/write and its
  /// /proc/vfs/connection says so.
  static let engineColumns: [(name: String, options: String, requires: String)] = [
    ("libfuse", "engine=libfuse", "engine="),
    ("native", "engine=native,transport=readwrite", "engine="),
    ("uring", "engine=native,transport=uring", "transport="),
  ]

  static func memfs(vfsOptions: String) -> Suite {
    Suite(
      name: "memfs", title: "SwiftVFS vs tmpfs",
      phases: [
        Phase(
          name: "",
          targets: [
            BenchTarget(name: "vfs", mounter: .vfsmount(options: vfsOptions)),
            BenchTarget(name: "tmpfs", mounter: .tmpfs, isReference: true),
          ], workloads: Workload.all)
      ], verdict: .ratioTargets(source: "issue 5", byKey: nil))
  }

  /// vfsmount memfs once per engine the binary offers, vs tmpfs.
  static func engines(vfsOptions: String, vfsmountHelp: String) -> Suite {
    var targets: [BenchTarget] = []
    var notes: [String] = []
    var missing: [String] = []
    for e in engineColumns {
      if vfsmountHelp.contains(e.requires) {
        let options = vfsOptions.isEmpty ? e.options : e.options + "," + vfsOptions
        targets.append(BenchTarget(name: e.name, mounter: .vfsmount(options: options)))
      } else {
        missing.append("\(e.name) (-o \(e.options))")
      }
    }
    if !missing.isEmpty {
      notes.append(
        "no column for \(missing.joined(separator: ", ")): this vfsmount's --help does not offer it"
      )
    }
    if targets.isEmpty {
      targets.append(BenchTarget(name: "vfs", mounter: .vfsmount(options: vfsOptions)))
      notes.append("so its one engine (libfuse's loop) is measured as column 'vfs'")
    }
    targets.append(BenchTarget(name: "tmpfs", mounter: .tmpfs, isReference: true))
    return Suite(
      name: "engines", title: "SwiftVFS engines vs tmpfs",
      phases: [Phase(name: "", targets: targets, workloads: Workload.all)],
      verdict: .ratioTargets(source: "issue 11", byKey: issue11Targets), notes: notes)
  }

  /// ext2 three ways on same-size images, each on its own tmpfs: the
  /// kernel's (loop device; the reference), fuse2fs, and vfsmount. The write
  /// phase runs on fresh images; the read-only phase on copies of an image
  /// the kernel's ext2 filled.
  static func ext2(vfsOptions: String) -> Suite {
    func opts(_ ro: Bool) -> String {
      ([ro ? "ro" : ""] + [vfsOptions]).filter { !$0.isEmpty }.joined(separator: ",")
    }
    let write = Phase(
      name: "write",
      targets: [
        BenchTarget(
          name: "vfs", mounter: .vfsmountExt2(options: opts(false)), mayBeReadOnly: true),
        BenchTarget(name: "fuse2fs", mounter: .fuse2fs),
        BenchTarget(name: "ext2", mounter: .kernelExt2, isReference: true),
      ], workloads: Workload.all)
    let read = Phase(
      name: "read-only",
      targets: [
        BenchTarget(name: "vfs", mounter: .vfsmountExt2(options: opts(true)), readOnly: true),
        BenchTarget(name: "fuse2fs", mounter: .fuse2fs, readOnly: true),
        BenchTarget(name: "ext2", mounter: .kernelExt2, isReference: true, readOnly: true),
      ], workloads: ReadOnlyWorkloads.all, seed: ReadOnlyWorkloads.seed)
    return Suite(
      name: "ext2", title: "ext2: vfsmount and fuse2fs vs the kernel's ext2 (loop device)",
      phases: [write, read], verdict: .fasterThan(target: "vfs", other: "fuse2fs"),
      notes: [
        "ext2 images are sparse files of the same size, each on its own tmpfs; the read-only rows (ro ...) read a tree the kernel's ext2 wrote"
      ])
  }
}

/// `vfsmount --help`'s text (empty if it cannot run): the engines it offers.
func helpText(of binary: String) -> String {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: binary)
  p.arguments = ["--help"]
  let pipe = Pipe()
  p.standardOutput = pipe
  p.standardError = pipe
  p.standardInput = FileHandle.nullDevice
  do { try p.run() } catch { return "" }
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return String(decoding: data, as: UTF8.self)
}
