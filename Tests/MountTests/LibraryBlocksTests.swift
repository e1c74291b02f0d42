import Foundation
import SwiftVFS
import Synchronization
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The building blocks on a live mount: a tree declared with the builder
/// (a JSON document as directories and read-only files, a writable
/// notes.txt, a generated file, a counter device, a writable scratch
/// directory) mounted in this process, and a path-based file system mounted
/// on one of its directories; checked with ls, cat, echo, stat, mv.
///
/// Every command runs as a child process: this process serves the mount and
/// must not be its own client (DESIGN.md, "Binding notes").
final class LibraryBlocksTests: XCTestCase {
  /// A char driver: each open reads the next number.
  final class Counter: FileOperations {
    let count = Atomic<Int>(0)
    func open(_ inode: Inode, _ file: File) throws(Errno) {
      file.setPayload(Array("\(count.add(1, ordering: .relaxed).newValue)\n".utf8))
    }
    func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    { ReadOnlyFile.copy(file.payload(as: [UInt8].self) ?? [], into: buffer, at: offset) }
  }

  /// A path file system of directories and files in a dictionary.
  final class DictionaryFS: PathFileSystem {
    let nodes = Mutex<[String: [UInt8]?]>(["/": nil])  // nil: a directory

    func parent(_ path: String) -> String {
      "/" + path.split(separator: "/").dropLast().joined(separator: "/")
    }
    func children(_ s: [String: [UInt8]?], _ path: String) -> [String] {
      s.keys.filter { $0 != "/" && parent($0) == path }.sorted()
    }
    func getattr(_ path: String) throws(Errno) -> PathAttributes {
      try nodes.withLock { s throws(Errno) in
        guard let node = s[path] else { throw .ENOENT }
        guard let bytes = node else {
          var attrs = PathAttributes.directory()
          attrs.nlink = UInt32(2 + children(s, path).filter { s[$0]! == nil }.count)
          return attrs
        }
        return .file(size: Int64(bytes.count))
      }
    }
    func readdir(_ path: String) throws(Errno) -> [PathDirectoryEntry] {
      nodes.withLock { s in
        children(s, path).map {
          PathDirectoryEntry(
            String($0.split(separator: "/").last!), type: s[$0]! == nil ? .directory : .regular)
        }
      }
    }
    func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    { ReadOnlyFile.copy((nodes.withLock { $0[path] } ?? nil) ?? [], into: buffer, at: offset) }
    func write(_ path: String, from buffer: UnsafeRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    {
      nodes.withLock { s in
        var bytes = (s[path] ?? nil) ?? []
        let end = Int(offset) + buffer.count
        if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
        bytes.replaceSubrange(Int(offset)..<end, with: buffer)
        s[path] = .some(bytes)
        return buffer.count
      }
    }
    func create(_ path: String, mode: UInt32, cred: Cred) throws(Errno) {
      nodes.withLock { $0[path] = .some([]) }
    }
    func mkdir(_ path: String, mode: UInt32, cred: Cred) throws(Errno) {
      nodes.withLock { $0[path] = .some(nil) }
    }
    func unlink(_ path: String) throws(Errno) { nodes.withLock { $0[path] = nil } }
    func rmdir(_ path: String) throws(Errno) {
      try nodes.withLock { s throws(Errno) in
        guard children(s, path).isEmpty else { throw .ENOTEMPTY }
        s[path] = nil
      }
    }
    func rename(_ from: String, _ to: String, flags: RenameFlags) throws(Errno) {
      guard flags.isEmpty else { throw .EINVAL }
      nodes.withLock { s in
        let moving = s.filter { $0.key == from || $0.key.hasPrefix(from + "/") }
        for key in s.keys where key == to || key.hasPrefix(to + "/") { s[key] = nil }
        for key in moving.keys { s[key] = nil }
        for (key, value) in moving { s[to + key.dropFirst(from.count)] = value }
      }
    }
    func truncate(_ path: String, size: Int64) throws(Errno) {
      nodes.withLock { s in
        let bytes = (s[path] ?? nil) ?? []
        s[path] = .some(
          Array(bytes.prefix(Int(size)))
            + [UInt8](repeating: 0, count: max(0, Int(size) - bytes.count)))
      }
    }
  }

  var mount: InProcessMount?
  var mountPoint: String { mount?.path ?? "" }

  override func setUpWithError() throws {
    try super.setUpWithError()
    guard access("/dev/fuse", F_OK) == 0, getuid() == 0 else {
      if MountTestCase.isCI { XCTFail("no /dev/fuse or not root") }
      throw XCTSkip("needs /dev/fuse and root")
    }
    let vfs = VFS()
    // The issue's tree: JSON objects as directories, strings and numbers
    // as read-only files, a writable notes.txt, a counter device.
    let json = #"{"name": "swiftvfs", "version": 10, "owner": {"login": "ada"}}"#
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    func fill(_ dir: TreeDirectory, _ object: [String: Any]) {
      for (key, value) in object.sorted(by: { $0.key < $1.key }) {
        if let child = value as? [String: Any] { dir.directory(key) { fill($0, child) } }
        if let text = value as? String { dir.file(key, text + "\n") }
        if let number = value as? NSNumber, !(value is String) { dir.file(key, "\(number)\n") }
      }
    }
    let ticks = Atomic<Int>(0)
    let dev = try DevT(major: 240, minor: 0)
    try vfs.chrdevs.registerChrdev(major: 240, name: "counter", fileOps: Counter())
    try vfs.filesystems.register(
      TreeFileSystem(name: "jsonfs") { root in
        fill(root, object)
        root.memoryFile("notes.txt")
        root.file("tick") { "tick \(ticks.add(1, ordering: .relaxed).newValue % 10)\n" }
        root.directory("dev") { $0.charDevice("counter", dev) }
        root.directory("scratch", writable: true)
        root.directory("paths")
        root.symlink("latest", to: "notes.txt")
      })
    try vfs.filesystems.register(PathFileSystemType(name: "dictfs", DictionaryFS()))
    try vfs.mount("jsonfs", at: "/", options: MountOptions())
    try vfs.mount("dictfs", at: "/paths", options: MountOptions())
    mount = try InProcessMount(vfs: vfs, name: "library-blocks")
  }

  override func tearDownWithError() throws {
    if let failure = mount?.stop() { XCTFail(failure) }
    mount = nil
    try super.tearDownWithError()
  }

  /// Runs `script` in the mount point; stdout and stderr together.
  func shell(_ script: String) -> String {
    let r = sh(
      "{ " + script + "; } 2>&1", cwd: mountPoint,
      environment: ["LC_ALL": "C", "PATH": "/usr/bin:/bin"])
    return r.stdout.hasSuffix("\n") ? String(r.stdout.dropLast()) : r.stdout
  }

  func testTreeBehavesUnderLsCatEchoStat() {
    // ls -la: ".", "..", every entry with its type and mode.
    let modes = shell("ls -la | awk 'NR > 1 && $NF != \"..\" { print $1, $NF }'").split(
      separator: "\n")
    XCTAssertEqual(
      Set(modes),
      [
        "dr-xr-xr-x .", "dr-xr-xr-x dev", "lrwxrwxrwx notes.txt",
        "-r--r--r-- name", "-rw-r--r-- notes.txt", "dr-xr-xr-x owner", "drwxr-xr-x paths",
        "drwxr-xr-x scratch", "-r--r--r-- tick", "-r--r--r-- version",
      ], modes.joined(separator: "\n"))
    XCTAssertEqual(shell("ls -a owner"), ".\n..\nlogin")
    XCTAssertEqual(shell("cat name version owner/login"), "swiftvfs\n10\nada")
    XCTAssertEqual(shell("stat -c '%s %h' name owner ."), "9 1\n0 2\n0 6")
    XCTAssertEqual(shell("readlink latest"), "notes.txt")

    // notes.txt: append, truncate.
    XCTAssertEqual(shell("echo one >> notes.txt; echo two >> notes.txt; cat latest"), "one\ntwo")
    XCTAssertEqual(shell("stat -c %s notes.txt"), "8")
    XCTAssertEqual(shell(": > notes.txt; stat -c %s notes.txt; cat notes.txt"), "0")

    // Read-only files and directories answer as the kernel's do.
    XCTAssertEqual(
      shell("echo x >> name"), "/bin/sh: 1: cannot create name: Permission denied")
    XCTAssertEqual(
      shell("chmod 666 name"), "chmod: changing permissions of 'name': Operation not permitted")
    XCTAssertEqual(shell("touch new"), "touch: cannot touch 'new': Permission denied")
    XCTAssertEqual(shell("mkdir d"), "mkdir: cannot create directory 'd': Operation not permitted")
    XCTAssertEqual(shell("cat name"), "swiftvfs")

    // A generated file: a new snapshot at each open, its size in stat.
    XCTAssertEqual(
      shell("a=$(cat tick); b=$(cat tick); [ \"$a\" != \"$b\" ] && echo $a $b | tr -d 0-9"),
      "tick  tick ")
    XCTAssertEqual(shell("stat -c %s tick"), "7")

    // The counter device: its driver serves each open.
    XCTAssertEqual(shell("cat dev/counter; cat dev/counter"), "1\n2")

    // The writable directory: memfs inside the tree.
    XCTAssertEqual(
      shell(
        "mkdir scratch/d && echo hi > scratch/d/f && mv scratch/d scratch/e && cat scratch/e/f"),
      "hi")
    XCTAssertEqual(shell("ls -a scratch/e"), ".\n..\nf")
  }

  func testPathFileSystemMountedInTheTree() {
    XCTAssertEqual(
      shell("mkdir -p paths/a/b && echo deep > paths/a/b/f && echo top > paths/t && ls -a paths"),
      ".\n..\na\nt")
    XCTAssertEqual(shell("ls -a paths/a/b; cat paths/a/b/f"), ".\n..\nf\ndeep")
    XCTAssertEqual(shell("echo more >> paths/a/b/f; cat paths/a/b/f"), "deep\nmore")
    XCTAssertEqual(shell("stat -c '%s %h' paths/a/b/f paths/a"), "10 1\n0 3")
    // ".." of a directory is its parent: same inode number.
    XCTAssertEqual(
      shell("[ $(stat -c %i paths/a/b/..) = $(stat -c %i paths/a) ] && echo same"), "same")
    // Renaming a directory moves everything below it.
    XCTAssertEqual(shell("mv paths/a paths/z && cat paths/z/b/f && ls paths"), "deep\nmore\nt\nz")
    XCTAssertEqual(shell("cat paths/a/b/f"), "cat: paths/a/b/f: No such file or directory")
    XCTAssertEqual(shell("truncate -s 2 paths/z/b/f; cat paths/z/b/f; echo"), "de")
    XCTAssertEqual(shell("rm paths/z/b/f && rmdir paths/z/b && ls -a paths/z"), ".\n..")
    XCTAssertEqual(shell("rmdir paths/z && ls -A paths"), "t")
  }
}
