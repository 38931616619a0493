// Builds every podkit image: `docker buildx bake` (all, for the local platform) or
// `docker buildx bake --push --set '*.platform=linux/amd64,linux/arm64'` (what the release workflow does).
// VERSION tags the images; `latest` and the major.minor tag are added for releases.

variable "REGISTRY" {
  default = "ghcr.io/podkit"
}

variable "VERSION" {
  default = "dev"
}

variable "REVISION" {
  default = "unknown"
}

variable "CREATED" {
  default = "unknown"
}

// Extra tags, comma-separated short tags (e.g. "0.1,latest"), set by the release workflow.
variable "EXTRA_TAGS" {
  default = ""
}

group "default" {
  targets = ["log-shipper", "log-adapter", "metrics-adapter", "db-ambassador", "http-ambassador"]
}

target "_common" {
  context = "."
  args = {
    VERSION  = VERSION
    REVISION = REVISION
    CREATED  = CREATED
  }
}

function "tags" {
  params = [name]
  result = concat(
    ["${REGISTRY}/${name}:${VERSION}"],
    [for t in compact(split(",", EXTRA_TAGS)) : "${REGISTRY}/${name}:${t}"]
  )
}

target "log-shipper" {
  inherits   = ["_common"]
  dockerfile = "packages/log-shipper/Dockerfile"
  tags       = tags("log-shipper")
}

target "log-adapter" {
  inherits   = ["_common"]
  dockerfile = "packages/log-adapter/Dockerfile"
  tags       = tags("log-adapter")
}

target "metrics-adapter" {
  inherits   = ["_common"]
  dockerfile = "packages/metrics-adapter/Dockerfile"
  tags       = tags("metrics-adapter")
}

target "db-ambassador" {
  inherits   = ["_common"]
  dockerfile = "packages/db-ambassador/Dockerfile"
  tags       = tags("db-ambassador")
}

target "http-ambassador" {
  inherits   = ["_common"]
  dockerfile = "packages/http-ambassador/Dockerfile"
  tags       = tags("http-ambassador")
}
