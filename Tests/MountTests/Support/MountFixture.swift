import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// One line of /proc/self/mountinfo.
struct MountInfo {
  var major: UInt32
  var minor: UInt32
  var mountPoint: String
  var fsType: String
  var source: String
  var superOptions: String

  /// The mounts this process sees (mountinfo escapes space, tab, newline, backslash in octal).
  static func all() -> [MountInfo] {
    guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else {
      return []
    }
    return text.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
      guard fields.count >= 7, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else {
        return nil
      }
      let dev = fields[2].split(separator: ":")
      guard dev.count == 2, let major = UInt32(dev[0]), let minor = UInt32(dev[1]) else {
        return nil
      }
      return MountInfo(
        major: major, minor: minor, mountPoint: unescape(fields[4]), fsType: fields[dash + 1],
        source: unescape(fields[dash + 2]),
        superOptions: dash + 3 < fields.count ? fields[dash + 3] : "")
    }
  }

  /// The last (topmost) mount on `path`.
  static func at(_ path: String) -> MountInfo? { all().last { $0.mountPoint == path } }

  private static func unescape(_ s: String) -> String {
    guard s.contains("\\") else { return s }
    var out = [UInt8]()
    let b = Array(s.utf8)
    var i = 0
    while i < b.count {
      if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
        let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
      {
        out.append(v)
        i += 4
      } else {
        out.append(b[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// A new empty directory under the temporary directory, its real path.
func makeTempDir(_ prefix: String) throws -> String {
  var template = Array(
    (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix).XXXXXX").utf8CString)
  let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  guard made != nil else { throw SupportError("mkdtemp: \(String(cString: strerror(errno)))") }
  let path = String(
    decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  guard let real = realpath(path, nil) else { return path }
  defer { free(real) }
  return String(cString: real)
}

/// Finds a built executable: `$env`, else next to the test bundle, else .build/debug.
func builtExecutable(_ name: String, env: String) -> String {
  if let path = ProcessInfo.processInfo.environment[env], !path.isEmpty { return path }
  var dirs: [String] = []
  if let arg0 = CommandLine.arguments.first {
    var dir = (arg0 as NSString).deletingLastPathComponent
    // A bundle directory (macOS-style .xctest) sits one level below the build dir.
    for _ in 0..<4 where !dir.isEmpty {
      dirs.append(dir)
      dir = (dir as NSString).deletingLastPathComponent
    }
  }
  dirs.append((Bundle.main.bundlePath as NSString).deletingLastPathComponent)
  dirs.append(Bundle.main.bundlePath)
  for dir in dirs {
    let candidate = (dir as NSString).appendingPathComponent(name)
    if access(candidate, X_OK) == 0 { return candidate }
  }
  return ".build/debug/\(name)"
}

/// The vfsmount executable: env VFSMOUNT, else the one built beside the tests.
func vfsmountPath() -> String { builtExecutable("vfsmount", env: "VFSMOUNT") }

/// The vfsprobe executable: env VFSPROBE, else the one built beside the tests.
func vfsprobePath() -> String { builtExecutable("vfsprobe", env: "VFSPROBE") }

/// `vfsmount -f [arguments] -o options <new temp dir>` running as a child process.
/// SWIFTVFS_ENGINE=native (or libfuse) runs every mount of the suite on that
/// engine: `-o engine=` for vfsmount children, `FuseSession.Engine` in process.
let testEngine: String? = ProcessInfo.processInfo.environment["SWIFTVFS_ENGINE"]
/// SWIFTVFS_TRANSPORT=uring (or readwrite) picks the native engine's
/// transport the same way (`-o transport=`, `FuseSession.Transport`). io_uring
/// needs /sys/module/fuse/parameters/enable_uring at Y (the runner sets it),
/// else the mount falls back to read/write (/proc/vfs/connection says so).
let testTransport: String? = ProcessInfo.processInfo.environment["SWIFTVFS_TRANSPORT"]
/// Whether the mounts run on the native engine: the default, unless
/// SWIFTVFS_ENGINE=libfuse.
let testUsesNativeEngine = (testEngine ?? "native") == "native"

final class VfsMount {
  let path: String
  private let child: Child
  private var unmounted = false

  var pid: Int32 { child.pid }

  init(options: [String] = [], arguments: [String] = []) throws {
    path = try makeTempDir("vfsmount")
    var args = ["-f"] + arguments
    var options = options
    if let engine = testEngine, !options.contains(where: { $0.hasPrefix("engine=") }) {
      options.append("engine=\(engine)")
    }
    if let transport = testTransport, !options.contains(where: { $0.hasPrefix("transport=") }) {
      options.append("transport=\(transport)")
    }
    if !options.isEmpty { args += ["-o", options.joined(separator: ",")] }
    args.append(path)
    do {
      child = try Child(vfsmountPath(), args)
    } catch {
      rmdir(path)
      throw error
    }
    let deadline = Date().addingTimeInterval(15)
    while true {
      if let m = MountInfo.at(path), m.fsType.hasPrefix("fuse") { return }
      if let status = child.wait(timeout: 0) {
        let err = child.stderr
        rmdir(path)
        unmounted = true
        throw SupportError(
          "vfsmount \(args.joined(separator: " ")) exited with status \(status) before mounting: \(err)"
        )
      }
      if Date() >= deadline {
        let err = child.stderr
        unmount()
        throw SupportError(
          "vfsmount \(args.joined(separator: " ")) did not mount within 15 s: \(err)")
      }
      usleep(20_000)
    }
  }

  /// What the daemon has written to stderr so far.
  var stderr: String { child.stderr }

  /// Waits for the daemon to exit (after an unmount or a signal); its status or nil.
  func waitForExit(timeout: Double) -> Int32? { child.wait(timeout: timeout) }

  var isMounted: Bool { MountInfo.at(path)?.fsType.hasPrefix("fuse") ?? false }

  /// Unmounts (fusermount3 -u, else umount -l), waits for the daemon, kills it if it
  /// lingers, aborts the FUSE connection if the mount is still there, removes the
  /// directory. Safe to call more than once.
  func unmount() {
    if unmounted { return }
    unmounted = true
    let info = MountInfo.at(path)
    if isMounted {
      let r = runCommand("fusermount3", ["-u", path], timeout: 10)
      if !r.ok || isMounted { runCommand("umount", ["-l", path], timeout: 10) }
    }
    if child.wait(timeout: 5) == nil {
      child.signal(SIGKILL)
      child.wait(timeout: 5)
    }
    if isMounted, let info = MountInfo.at(path) ?? info, info.fsType.hasPrefix("fuse") {
      abortConnection(minor: info.minor)
      umount2(path, Int32(MNT_DETACH))
    }
    rmdir(path)
  }

  deinit { unmount() }
}

/// Writes 1 to /sys/fs/fuse/connections/<minor>/abort (mounting fusectl first if needed).
func abortConnection(minor: UInt32) {
  let dir = "/sys/fs/fuse/connections"
  if ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).isEmpty {
    runCommand("mount", ["-t", "fusectl", "none", dir], timeout: 10)
  }
  let fd = open("\(dir)/\(minor)/abort", O_WRONLY)
  if fd >= 0 {
    _ = write(fd, "1", 1)
    close(fd)
  }
}

/// `mount -t tmpfs -o options none <new temp dir>`.
final class TmpfsMount: ReferenceMount {
  let path: String
  let name = "tmpfs"
  private var unmounted = false

  init(options: [String] = []) throws {
    path = try makeTempDir("tmpfs")
    var args = ["-t", "tmpfs"]
    if !options.isEmpty { args += ["-o", options.joined(separator: ",")] }
    let r = runCommand("mount", args + ["none", path], timeout: 10)
    guard r.ok else {
      rmdir(path)
      unmounted = true
      throw SupportError("mount -t tmpfs failed: \(r.stderr)")
    }
  }

  func unmount() {
    if unmounted { return }
    unmounted = true
    if MountInfo.at(path)?.fsType == "tmpfs" {
      if umount2(path, 0) != 0 { umount2(path, Int32(MNT_DETACH)) }
    }
    rmdir(path)
  }

  deinit { unmount() }
}

/// A test case with a fresh vfsmount mount (`vfs`) and, when `usesTmpfs`, a fresh tmpfs
/// (`tmpfs`) around every test. Without /dev/fuse or when mounting fails, the test is
/// skipped, except under CI=true, where it fails. Under SWIFTVFS_FS=ext2 a test that
/// uses tmpfs mounts ext2 images on both sides instead (see Ext2Fixture.swift).
class MountTestCase: XCTestCase {
  class var mountOptions: [String] { ["allow_other"] }
  class var usesTmpfs: Bool { true }
  /// Options for the tmpfs twin.
  class var tmpfsOptions: [String] { [] }
  /// Whether both sides are ext2 images (vfsmount -t ext2 and the kernel's
  /// ext2) instead of memfs and tmpfs: SWIFTVFS_FS=ext2, or a class that says so.
  class var usesExt2: Bool { testsOnExt2 }

  var vfs: VfsMount!
  /// The reference mount: tmpfs, or the kernel's ext2 under SWIFTVFS_FS=ext2.
  var tmpfs: ReferenceMount!
  /// The vfsmount side's image under SWIFTVFS_FS=ext2.
  var vfsImage: Ext2ScratchImage?

  static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

  /// Runs `executable` with `arguments(dir)` on the tmpfs, then on vfsmount,
  /// asserts that each exits 0, and returns their outputs in that order.
  func stdoutOnBothSides(
    _ executable: String, timeout: Double = 60, file: StaticString = #filePath,
    line: UInt = #line, _ arguments: (String) -> [String]
  ) -> [String] {
    [tmpfs.path, vfs.path].map { dir in
      let r = runCommand(executable, arguments(dir), timeout: timeout)
      XCTAssertEqual(r.status, 0, "\(dir): \(r.stderr)", file: file, line: line)
      return r.stdout
    }
  }

  override func setUpWithError() throws {
    try super.setUpWithError()
    do {
      guard access("/dev/fuse", F_OK) == 0 else { throw SupportError("/dev/fuse is missing") }
      if Self.usesExt2 && Self.usesTmpfs {
        try mountExt2Pair()
      } else {
        vfs = try VfsMount(options: Self.mountOptions)
        if Self.usesTmpfs { tmpfs = try TmpfsMount(options: Self.tmpfsOptions) }
      }
    } catch let skip as XCTSkip {
      throw skip
    } catch {
      vfs?.unmount()
      tmpfs?.unmount()
      vfsImage?.remove()
      if Self.isCI {
        XCTFail("cannot mount: \(error)")
        throw error
      }
      throw XCTSkip("cannot mount: \(error)")
    }
  }

  /// SWIFTVFS_FS=ext2: vfsmount -t ext2 and the kernel's ext2, each on a fresh image.
  /// Not bare (unless the test asks): the scenarios work in `t` and some read
  /// /proc/vfs or /dev on the vfsmount side; neither is written to the image.
  private func mountExt2Pair() throws {
    let foreign = Self.tmpfsOptions.flatMap { $0.split(separator: ",").map(String.init) }
      .filter { !ext2CompatibleReferenceOptions.contains($0) }
    if !foreign.isEmpty {
      throw XCTSkip(
        "tmpfs options \(foreign.joined(separator: ",")) have no ext2 mount option: the image sets size, inode count and root owner"
      )
    }
    let image = try Ext2ScratchImage()
    vfsImage = image
    vfs = try VfsMount(
      options: Self.mountOptions, arguments: ["-t", "ext2", image.image])
    tmpfs = try KernelExt2Mount(options: Self.tmpfsOptions)
  }

  override func tearDownWithError() throws {
    vfs?.unmount()
    tmpfs?.unmount()
    vfsImage?.remove()
    vfs = nil
    tmpfs = nil
    vfsImage = nil
    try super.tearDownWithError()
  }
}
