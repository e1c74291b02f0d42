import SwiftVFSCore

/// Typed private data: any `Sendable` value kept in an inode's, a file's or
/// a superblock's `privateData` and read back with its type, without a box
/// class of your own or an `as!` cast (the kernel's i_private, private_data
/// and s_fs_info, with a type).
///
/// `privateData` stays `AnyObject?`, so code that stores its own classes
/// there (memfs, devfs, procfs) is unchanged; a payload is one more kind of
/// object it can hold.
///
/// Inodes made by memfs keep memfs's own data in that slot (a
/// `MemoryFile`'s pages, a `MemoryDirectory`'s entries, a tree's symlink
/// targets), as a path file system's inodes keep their paths: set no payload
/// on those. `ReadOnlyFile` and `StaticDirectory` inodes leave it free.
///
/// What it does not do: it takes no lock. Set the payload while the object is
/// not yet shared (when you make the inode, in `open`, in `mount`), or hold
/// the object's lock; to change a value in place later, store a class of
/// your own (or a `Mutex`) as the payload.
public final class Payload<Value: Sendable>: @unchecked Sendable {
  /// The value stored.
  public let value: Value
  /// Boxes `value`.
  public init(_ value: Value) { self.value = value }
}

/// An object with a `privateData` slot: `Inode`, `File` and `SuperBlock`.
public protocol PrivateDataHolder: AnyObject {
  /// The untyped slot the typed accessors below use.
  var privateData: AnyObject? { get set }
}

extension PrivateDataHolder {
  /// Stores `value` as this object's private data (replacing what was there).
  public func setPayload<Value: Sendable>(_ value: Value) {
    privateData = Payload(value)
  }

  /// The private data as a `Value`: a payload stored by `setPayload`, or an
  /// object of that class stored in `privateData` directly; nil if it is
  /// neither (nothing stored, or another type).
  public func payload<Value: Sendable>(as type: Value.Type = Value.self) -> Value? {
    if let box = privateData as? Payload<Value> { return box.value }
    return privateData as? Value
  }
}

/// An inode carries a typed payload (i_private).
extension Inode: PrivateDataHolder {}
/// An open file carries a typed payload (private_data).
extension File: PrivateDataHolder {}
/// A superblock carries a typed payload (s_fs_info).
extension SuperBlock: PrivateDataHolder {}
