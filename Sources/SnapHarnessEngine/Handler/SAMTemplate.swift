#if os(Linux)
import Foundation
import Yams

/// The functions of an AWS SAM template, read as SAM reads them: `Globals.Function` applied (a function's own value
/// wins, maps are merged key by key, lists are the global items followed by the function's), CloudFormation's
/// intrinsic functions resolved where a local run can (`!Ref` to a parameter's default, a pseudo parameter or a local
/// layer; `!Sub`; `!Join`). What cannot be resolved is an error that names the property.
public struct SAMTemplate: Sendable {
    /// One `AWS::Serverless::Function`, as snapharness runs it.
    public struct Function: Sendable, Equatable {
        public var logicalId: String
        /// The code folder (CodeUri, relative to the template's folder).
        public var codeUri: String
        public var functionName: String?
        public var handler: String?
        public var runtime: String?
        public var memorySize: Int?
        public var timeout: Double?
        public var environment: [String: String] = [:]
        /// Local layer folders (`AWS::Serverless::LayerVersion` ContentUri), in order.
        public var layers: [String] = []
        public var ephemeralStorageMB: Int?
        /// `SnapStart.ApplyOn: PublishedVersions`.
        public var snapStart = false
        public var architectures: [String] = []
        /// `PackageType: Image`: the local image `ImageUri` names (a layout folder or archive, relative to the
        /// template's folder), and the function's ImageConfig.
        public var imageUri: String?
        public var imageConfig = FunctionConfig.ImageConfig()
    }

    public let path: String
    public let functions: [Function]

    static let functionType = "AWS::Serverless::Function"
    static let layerTypes: Set<String> = ["AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"]

    /// Reads `path`; every problem is `HarnessError.input` naming the template and the property.
    public static func load(_ path: String, region: String = "us-east-1") throws -> SAMTemplate {
        let absolute = SnapshotDirectory.absolute(path)
        guard let text = try? String(contentsOfFile: absolute, encoding: .utf8) else {
            throw HarnessError.input("cannot read the SAM template \(path)")
        }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw HarnessError.input("\(path) is empty") }
            root = node
        } catch let error as HarnessError {
            throw error
        } catch {
            throw HarnessError.input("\(path) is not valid YAML: \(error)")
        }
        let reader = Reader(root: root, folder: (absolute as NSString).deletingLastPathComponent, file: path, region: region)
        return SAMTemplate(path: absolute, functions: try reader.functions())
    }

    /// The function `logicalId` names, or the only one when it is nil.
    public func function(_ logicalId: String?) throws -> Function {
        let ids = functions.map(\.logicalId)
        guard let logicalId else {
            guard functions.count == 1 else {
                throw HarnessError.input(functions.isEmpty ? "\(path) defines no \(SAMTemplate.functionType)"
                    : "\(path) defines \(functions.count) functions (\(ids.joined(separator: ", "))): name one, e.g. "
                      + "`-t \((path as NSString).lastPathComponent) \(ids[0])`")
            }
            return functions[0]
        }
        guard let found = functions.first(where: { $0.logicalId == logicalId }) else {
            throw HarnessError.input("\(path) has no function \(logicalId); its functions: \(ids.joined(separator: ", "))")
        }
        return found
    }

    /// Walks the YAML tree; intrinsic functions are resolved on the properties that are read, only.
    struct Reader {
        let root: Node
        let folder: String
        let file: String
        let region: String

        func child(_ node: Node?, _ key: String) -> Node? { node?.mapping?[Node(key)] }

        var resources: [(String, Node)] {
            guard let mapping = child(root, "Resources")?.mapping else { return [] }
            return mapping.compactMap { pair in pair.key.string.map { ($0, pair.value) } }
        }

        func type(of resource: Node) -> String? { child(resource, "Type")?.string }

        func functions() throws -> [Function] {
            let globals = child(child(root, "Globals"), "Function")
            return try resources.filter { type(of: $0.1) == SAMTemplate.functionType }.map { id, resource in
                let own = child(resource, "Properties") ?? Node.mapping(.init([]))
                let properties = globals.map { merge(global: $0, own: own) } ?? own
                return try function(id, properties)
            }.sorted { $0.logicalId < $1.logicalId }
        }

        /// SAM's Globals: the resource's value wins; maps merge key by key; lists are global items first.
        func merge(global: Node, own: Node) -> Node {
            if let g = global.mapping, let o = own.mapping, o.tag.description == g.tag.description, !isIntrinsic(own) {
                var pairs: [(Node, Node)] = []
                for (key, value) in g {
                    if let mine = o[key] { pairs.append((key, merge(global: value, own: mine))) } else { pairs.append((key, value)) }
                }
                for (key, value) in o where g[key] == nil { pairs.append((key, value)) }
                return .mapping(.init(pairs))
            }
            if let g = global.sequence, let o = own.sequence, !isIntrinsic(own) {
                return .sequence(.init(Array(g) + Array(o)))
            }
            return own
        }

        /// An intrinsic function in either spelling, `!Sub x` or `{Fn::Sub: x}` (`!Ref x` or `{Ref: x}`): its name
        /// without the prefix ("Ref", "Sub", "GetAtt", ...) and its argument.
        func intrinsic(_ node: Node) -> (name: String, argument: Node)? {
            let tag = node.tag.description
            if tag.hasPrefix("!") { return (String(tag.dropFirst()), node) }
            guard let m = node.mapping, m.count == 1, let first = m.first, let key = first.key.string else { return nil }
            if key == "Ref" { return ("Ref", first.value) }
            return key.hasPrefix("Fn::") ? (String(key.dropFirst(4)), first.value) : nil
        }

        func isIntrinsic(_ node: Node) -> Bool { intrinsic(node) != nil }

        func function(_ id: String, _ p: Node) throws -> Function {
            let at = "Resources.\(id).Properties"
            if let kind = try child(p, "PackageType").map({ try string($0, at: at + ".PackageType") }), kind == "Image" {
                return try imageFunction(id, p, at: at)
            }
            let codeNode = child(p, "CodeUri")
            if let codeNode, codeNode.mapping != nil, !isIntrinsic(codeNode) {
                throw HarnessError.input("\(file): \(at).CodeUri is an S3 location; snapharness needs a local folder")
            }
            guard let code = try codeNode.map({ try string($0, at: at + ".CodeUri") }) ?? (child(p, "InlineCode") == nil ? "." : nil) else {
                throw HarnessError.input("\(file): \(id) uses InlineCode; snapharness runs a code folder (CodeUri)")
            }
            if code.contains("://") {
                throw HarnessError.input("\(file): \(at).CodeUri is \(code), a remote location; snapharness needs a local "
                                         + "folder (download and unpack the package, then point CodeUri at it)")
            }
            var f = Function(logicalId: id, codeUri: absolute(code))
            try common(&f, p, at: at)
            return f
        }

        /// A `PackageType: Image` function: ImageUri must name a local image (a registry cannot be reached).
        func imageFunction(_ id: String, _ p: Node, at: String) throws -> Function {
            guard let uri = try child(p, "ImageUri").map({ try string($0, at: at + ".ImageUri") }) else {
                throw HarnessError.input("\(file): \(id) has PackageType Image but no ImageUri: name a local image (an OCI "
                                         + "layout folder or an image archive, relative to the template)")
            }
            var f = Function(logicalId: id, codeUri: folder)
            let remote = ["docker://", "containers-storage:", "oci:", "oci-archive:", "docker-archive:"]
            f.imageUri = remote.contains(where: uri.hasPrefix) || uri.hasPrefix("/") ? uri : absolute(uri)
            let config = child(p, "ImageConfig")
            func list(_ key: String) throws -> [String]? {
                guard let node = child(config, key) else { return nil }
                guard let items = node.sequence else { return [try string(node, at: at + ".ImageConfig.\(key)")] }
                return try items.enumerated().map { i, item in try string(item, at: at + ".ImageConfig.\(key)[\(i)]") }
            }
            f.imageConfig = FunctionConfig.ImageConfig(
                entryPoint: try list("EntryPoint"), command: try list("Command"),
                workingDirectory: try child(config, "WorkingDirectory").map { try string($0, at: at + ".ImageConfig.WorkingDirectory") })
            try common(&f, p, at: at)
            if !f.layers.isEmpty {
                throw HarnessError.input("\(file): \(id) is a container image with Layers: Lambda does not add layers to "
                                         + "image functions; put their files into the image")
            }
            return f
        }

        /// The properties zip and image functions share.
        func common(_ f: inout Function, _ p: Node, at: String) throws {
            f.functionName = try child(p, "FunctionName").map { try string($0, at: at + ".FunctionName") }
            f.handler = try child(p, "Handler").map { try string($0, at: at + ".Handler") }
            f.runtime = try child(p, "Runtime").map { try string($0, at: at + ".Runtime") }
            f.memorySize = try child(p, "MemorySize").map { try int($0, at: at + ".MemorySize") }
            f.timeout = try child(p, "Timeout").map { Double(try int($0, at: at + ".Timeout")) }
            f.ephemeralStorageMB = try child(child(p, "EphemeralStorage"), "Size").map { try int($0, at: at + ".EphemeralStorage.Size") }
            if let variables = child(child(p, "Environment"), "Variables")?.mapping {
                for (key, value) in variables {
                    guard let name = key.string else { continue }
                    f.environment[name] = try string(value, at: at + ".Environment.Variables.\(name)")
                }
            }
            for (i, layer) in (child(p, "Layers")?.sequence.map(Array.init) ?? []).enumerated() {
                f.layers.append(try layerFolder(layer, at: at + ".Layers[\(i)]"))
            }
            if let applyOn = child(child(p, "SnapStart"), "ApplyOn") {
                f.snapStart = try string(applyOn, at: at + ".SnapStart.ApplyOn") == "PublishedVersions"
            }
            f.architectures = try (child(p, "Architectures")?.sequence.map(Array.init) ?? []).enumerated().map { i, node in
                try string(node, at: at + ".Architectures[\(i)]")
            }
        }

        func absolute(_ relative: String) -> String {
            let joined = relative.hasPrefix("/") ? relative : folder + "/" + relative
            return URL(fileURLWithPath: joined).standardizedFileURL.path
        }

        /// A layer entry: `!Ref` to a LayerVersion in this template (its ContentUri folder); an ARN cannot be fetched.
        func layerFolder(_ node: Node, at property: String) throws -> String {
            if let name = reference(node), let resource = resources.first(where: { $0.0 == name })?.1,
               let kind = type(of: resource), SAMTemplate.layerTypes.contains(kind) {
                let properties = child(resource, "Properties")
                guard let content = child(properties, "ContentUri") ?? child(properties, "Content") else {
                    throw HarnessError.input("\(file): layer \(name) (\(property)) has no ContentUri")
                }
                return absolute(try string(content, at: "Resources.\(name).Properties.ContentUri"))
            }
            let value = (try? string(node, at: property)) ?? "?"
            throw HarnessError.input("\(file): \(property) is \(value), not a layer of this template: snapharness needs the "
                + "layer's files. Declare it as an AWS::Serverless::LayerVersion with a local ContentUri and !Ref it")
        }

        /// The logical id of a `!Ref X` / `{Ref: X}`, if the node is one.
        func reference(_ node: Node) -> String? {
            guard let (name, argument) = intrinsic(node), name == "Ref" else { return nil }
            return argument.scalar?.string
        }

        func int(_ node: Node, at property: String) throws -> Int {
            let text = try string(node, at: property)
            guard let value = Int(text) else { throw HarnessError.input("\(file): \(property) must be a whole number, got \(text)") }
            return value
        }

        /// A scalar property with CloudFormation's intrinsic functions resolved.
        func string(_ node: Node, at property: String) throws -> String {
            guard let (name, argument) = intrinsic(node) else {
                if let scalar = node.scalar { return scalar.string }
                throw HarnessError.input("\(file): \(property) must be a single value")
            }
            switch name {
            case "Ref":
                guard let target = argument.scalar?.string else {
                    throw HarnessError.input("\(file): \(property) has a !Ref without a name")
                }
                return try resolveRef(target, at: property)
            case "Sub":
                if let template = argument.scalar?.string { return try substitute(template, [:], at: property) }
                if let parts = argument.sequence, let template = parts.first?.scalar?.string, let vars = parts.dropFirst().first?.mapping {
                    var values: [String: String] = [:]
                    for (k, v) in vars { if let key = k.string { values[key] = try string(v, at: property) } }
                    return try substitute(template, values, at: property)
                }
                throw HarnessError.input("\(file): \(property) has a !Sub snapharness cannot read")
            case "Join":
                guard let parts = argument.sequence, parts.count == 2, let delimiter = parts.first?.scalar?.string,
                      let items = parts.dropFirst().first?.sequence else {
                    throw HarnessError.input("\(file): \(property) has a !Join snapharness cannot read")
                }
                return try items.map { try string($0, at: property) }.joined(separator: delimiter)
            default:
                throw HarnessError.input("\(file): \(property) uses !\(name), which has no value outside a deployed stack; "
                    + "give the property a literal value (or override it with a flag, e.g. --env KEY=VALUE)")
            }
        }

        func resolveRef(_ name: String, at property: String) throws -> String {
            switch name {
            case "AWS::Region": return region
            case "AWS::AccountId": return "000000000000"
            case "AWS::Partition": return "aws"
            case "AWS::URLSuffix": return "amazonaws.com"
            case "AWS::StackName": return "snapharness"
            case "AWS::NoValue": return ""
            default: break
            }
            if let parameter = child(child(root, "Parameters"), name) {
                guard let value = child(parameter, "Default") else {
                    throw HarnessError.input("\(file): \(property) refers to parameter \(name), which has no Default; "
                                             + "give it one, or set the property with a flag")
                }
                return try string(value, at: "Parameters.\(name).Default")
            }
            if resources.contains(where: { $0.0 == name }) {
                throw HarnessError.input("\(file): \(property) refers to resource \(name), which exists only in a "
                    + "deployed stack; give the property a literal value")
            }
            throw HarnessError.input("\(file): \(property) refers to \(name), which the template does not define")
        }

        func substitute(_ template: String, _ values: [String: String], at property: String) throws -> String {
            var out = ""
            var rest = Substring(template)
            while let open = rest.range(of: "${") {
                out += rest[..<open.lowerBound]
                guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                    throw HarnessError.input("\(file): \(property) has an unclosed ${ in its !Sub")
                }
                let name = String(rest[open.upperBound..<close])
                if name.hasPrefix("!") {
                    out += "${" + name.dropFirst() + "}" // ${!Literal}
                } else if let value = values[name] {
                    out += value
                } else if name.contains(".") {
                    throw HarnessError.input("\(file): \(property) uses ${\(name)} (an attribute of a deployed resource); "
                                             + "give the property a literal value")
                } else {
                    out += try resolveRef(name, at: property)
                }
                rest = rest[rest.index(after: close)...]
            }
            return out + rest
        }
    }
}
#endif
