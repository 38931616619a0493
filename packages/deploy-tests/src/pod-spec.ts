// The parts of a pod spec the sandbox reads, typed (the rest of an object stays as parsed).
export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { fieldRef?: { fieldPath: string } }
}

export interface VolumeMount {
  name: string
  mountPath: string
  subPath?: string
  readOnly?: boolean
}

export interface ContainerSpecLike {
  name: string
  image?: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  volumeMounts?: VolumeMount[]
}

type Items = Array<{ key: string; path: string }>

export interface VolumeLike {
  name: string
  emptyDir?: object
  configMap?: { name: string; items?: Items }
  secret?: { secretName: string; items?: Items }
}

export interface PodSpecLike {
  securityContext?: { runAsUser?: number; fsGroup?: number }
  volumes?: VolumeLike[]
}
