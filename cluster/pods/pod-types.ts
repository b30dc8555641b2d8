/** The parts of a Pod that the pod runtime reads (the API server's JSON). */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    resourceFieldRef?: { resource: string };
  };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  ports?: { name?: string; containerPort: number }[];
}

type KeyItems = { key: string; path: string }[];

export interface Volume {
  name: string;
  emptyDir?: object;
  persistentVolumeClaim?: { claimName: string };
  secret?: { secretName: string; items?: KeyItems; optional?: boolean };
  configMap?: { name: string; items?: KeyItems; optional?: boolean };
  projected?: {
    sources: {
      serviceAccountToken?: { path: string };
      configMap?: { name: string; items?: KeyItems; optional?: boolean };
      secret?: { name: string; items?: KeyItems; optional?: boolean };
      downwardAPI?: { items: { path: string; fieldRef?: { fieldPath: string } }[] };
    }[];
  };
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
    terminationGracePeriodSeconds?: number;
  };
  status: { phase?: string; podIP?: string };
}
