// jsontree FILE.json MOUNTPOINT
//
// A file system made from a JSON document with SwiftVFS's building blocks
// (`TreeFileSystem`, `ReadOnlyFile`, `MemoryFile`, a char device driver):
// - objects and arrays become read-only directories (an array's members are
//   named 0, 1, 2 ...), strings, numbers and booleans read-only files that
//   hold the value and a newline (null is left out);
// - `notes.txt` is a writable file in memory: `echo hi >> notes.txt`, `: > notes.txt`;
// - `dev/counter` is a char device: each `cat` of it shows the next number.
//
// It runs in the foreground until Ctrl-C, SIGTERM or `umount MOUNTPOINT`, then
// exits 0; a bad argument or mount point is one line on stderr and exit 1.
//
//   swift run jsontree Examples/jsontree/sample.json /mnt/json
//   ls -R /mnt/json; cat /mnt/json/dev/counter /mnt/json/dev/counter
import Foundation
import SwiftVFS
import Synchronization

/// The counter's driver: a read from offset 0 returns the next number, a read
/// further on the end of the file, so that each `cat` shows one number.
final class Counter: FileOperations {
  let next = Mutex(1)

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard offset == 0 else { return 0 }
    let number = next.withLock { next in
      defer { next += 1 }
      return next
    }
    return ReadOnlyFile.copy(Array("\(number)\n".utf8), into: buffer, at: 0)
  }
}

/// Declares `value`'s members in `dir`: objects and arrays as directories,
/// the rest as read-only files.
func fill(_ dir: TreeDirectory, with value: Any) {
  let members: [(name: String, value: Any)]
  if let object = value as? [String: Any] {
    members = object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  } else if let array = value as? [Any] {
    members = array.enumerated().map { ("\($0.offset)", $0.element) }
  } else {
    return
  }
  for (name, member) in members {
    switch member {
    case is [String: Any], is [Any]: dir.directory(name) { fill($0, with: member) }
    case let text as String: dir.file(name, text + "\n")
    case let flag as NSNumber where String(cString: flag.objCType) == "c":  // a JSON boolean
      dir.file(name, flag.boolValue ? "true\n" : "false\n")
    case let number as NSNumber: dir.file(name, "\(number)\n")
    default: continue  // null
    }
  }
}

/// A VFS with the tree of the JSON document `json` at its root, and the
/// counter's driver registered under a dynamic major (like
/// register_chrdev(0, "counter", &fops)).
func makeJSONTree(_ json: Data) throws -> VFS {
  let document = try JSONSerialization.jsonObject(with: json, options: .fragmentsAllowed)
  let vfs = VFS()
  let major = try vfs.chrdevs.registerChrdev(name: "counter", fileOps: Counter())
  let tree = try TreeFileSystem(name: "jsontree") { root in
    fill(root, with: document)
    root.memoryFile("notes.txt")
    try root.directory("dev") { try $0.charDevice("counter", DevT(major: major, minor: 0)) }
  }
  try vfs.filesystems.register(tree)
  try vfs.mount("jsontree", at: "/", options: MountOptions())
  return vfs
}

/// Writes one line on stderr and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
  FileHandle.standardError.write(Data((message + "\n").utf8))
  exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fail("usage: jsontree FILE.json MOUNTPOINT", status: 2) }
do {
  let vfs = try makeJSONTree(Data(contentsOf: URL(fileURLWithPath: arguments[1])))
  let session = try FuseSession(
    bridge: FuseBridge(vfs: vfs, options: FuseBridge.Options()), mountPoint: arguments[2],
    kernelOptions: ["fsname=jsontree", "subtype=jsontree", "default_permissions"])
  session.installSignalHandlers()
  let status = session.run(loop: .threaded)
  session.close()
  exit(status == 0 ? 0 : 1)
} catch {
  fail("jsontree: \("\(error)".split(separator: "\n").joined(separator: " "))", status: 1)
}
