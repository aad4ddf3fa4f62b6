/**
 * A `FileSystem` that serves a few files from memory, for the modules that read the host's files through
 * `FileSystem` (ResourceLimits' `/proc`, TokenManager's credential file). It records every path it was
 * asked about, in order, so a test can tell what was read, and when.
 */
import { ByteSize, Effect, FileSystem, Layer, Option, PlatformError } from "effect"

/** A file's content, or the error a read of it fails with (`PermissionDenied`: mode 000, say). */
export type Entry = string | { readonly fails: PlatformError.SystemErrorTag }

/** The files (absolute paths) and the log of what was asked. Change `files` between reads to change them. */
export interface FakeFiles {
  readonly files: Map<string, Entry>
  readonly asked: Array<string>
}

const failure = (tag: PlatformError.SystemErrorTag, method: string, path: string) =>
  PlatformError.systemError({ _tag: tag, module: "FileSystem", method, pathOrDescriptor: path })

/** The directories that hold the files: every proper prefix of their paths. */
const isDirectory = (files: Map<string, Entry>, path: string) =>
  [...files.keys()].some((file) => file.startsWith(`${path}/`))

/**
 * What `stat` tells of a file: its size, and a modification time that is its content's (a file whose content
 * changed has another). A file whose reads fail still has one, as a mode-000 file does.
 */
const infoOf = (entry: Entry): FileSystem.File.Info => {
  const content = typeof entry === "string" ? entry : ""
  const size = new TextEncoder().encode(content).length
  let hash = 0
  for (const char of content) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) % 1_000_000_007
  return {
    type: "File",
    mtime: Option.some(new Date(hash)),
    atime: Option.none(),
    birthtime: Option.none(),
    dev: 0n,
    ino: Option.some(1n),
    mode: typeof entry === "string" ? 0o600 : 0o000,
    nlink: Option.none(),
    uid: Option.none(),
    gid: Option.none(),
    rdev: Option.none(),
    size: ByteSize.bytes(size),
    blksize: Option.none(),
    blocks: Option.none()
  }
}

/** A FileSystem over `fake`: reads, stats, directory listings and existence; every other call fails (NotFound). */
export const make = (fake: FakeFiles): FileSystem.FileSystem =>
  FileSystem.makeNoop({
    readFileString: (path) =>
      Effect.suspend(() => {
        fake.asked.push(path)
        const entry = fake.files.get(path)
        if (entry === undefined) return Effect.fail(failure("NotFound", "readFileString", path))
        return typeof entry === "string"
          ? Effect.succeed(entry)
          : Effect.fail(failure(entry.fails, "readFileString", path))
      }),
    readDirectory: (path) =>
      Effect.suspend(() => {
        fake.asked.push(path)
        if (!isDirectory(fake.files, path)) return Effect.fail(failure("NotFound", "readDirectory", path))
        const names = new Set(
          [...fake.files.keys()].filter((file) => file.startsWith(`${path}/`)).map((file) =>
            file.slice(path.length + 1).split("/")[0] ?? ""
          )
        )
        return Effect.succeed([...names])
      }),
    stat: (path) =>
      Effect.suspend(() => {
        fake.asked.push(path)
        const entry = fake.files.get(path)
        return entry === undefined ? Effect.fail(failure("NotFound", "stat", path)) : Effect.succeed(infoOf(entry))
      }),
    exists: (path) =>
      Effect.sync(() => {
        fake.asked.push(path)
        return fake.files.has(path) || isDirectory(fake.files, path)
      })
  })

/** `make` as a layer, with the `FakeFiles` to change and inspect. */
export const layer = (
  files: Record<string, Entry> = {}
): { readonly fake: FakeFiles; readonly layer: Layer.Layer<FileSystem.FileSystem> } => {
  const fake: FakeFiles = { files: new Map(Object.entries(files)), asked: [] }
  return { fake, layer: Layer.succeed(FileSystem.FileSystem, make(fake)) }
}
