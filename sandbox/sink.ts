import { appendFileSync } from "node:fs";
import { createServer, IncomingMessage, Server } from "node:http";

/** One notification as Alertmanager's webhook receiver sends it. */
export interface WebhookNotification {
  receiver: string;
  status: "firing" | "resolved";
  alerts: {
    status: "firing" | "resolved";
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
  }[];
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
}

/** HPA bounds the kube-state-metrics stand-in reports. */
export interface HpaState {
  namespace: string;
  name: string;
  min: number;
  max: number;
  current: () => number;
}

export interface SinkHandlers {
  /** Control commands of the sandbox (kill / revive an instance). */
  control?: (command: string, arg: string) => Promise<string>;
}

/**
 * The sandbox's local HTTP endpoint, four things on one port:
 * - `POST /alerts`: Alertmanager's webhook receiver; each notification is appended to the log file
 *   (one JSON line) and kept in memory with its arrival time;
 * - `POST /analyses`: the alert analyst's reports, logged and kept the same way;
 * - `GET /metrics`: a SIMULATED kube-state-metrics exposing the HPA series the rules and dashboard
 *   read, from the sandbox's own instance count (there is no cluster here);
 * - `POST /control/<command>/<arg>`: the sandbox's own switches (used by `npm run sandbox -- kill`).
 */
/** A report of the alert analyst, as its generic webhook delivers it. */
export interface AnalysisDelivery {
  /** A report, or the short line sent when alerts of a reported group resolve (no labels then). */
  kind: "alert-analysis" | "alert-resolution";
  groupKey: string;
  alertname: string;
  labels: Record<string, string>;
  text: string;
  hypotheses: { id: string; title: string; confidence: number; facts: string[] }[];
  evidence: { id: string; name: string; summary: string }[];
  model: { text: string; dropped?: number } | null;
  fallback: string | null;
  /** Evidence that could not be fetched, and why. */
  unavailable?: { name: string; reason: string }[];
}

export class WebhookSink {
  readonly received: { at: number; notification: WebhookNotification }[] = [];
  /** The alert analyst's reports (`POST /analyses`), with their arrival time. */
  readonly analyses: { at: number; analysis: AnalysisDelivery }[] = [];
  private server?: Server;

  constructor(
    private readonly logFile: string,
    private readonly hpa: HpaState,
    private readonly handlers: SinkHandlers = {},
  ) {}

  async listen(port: number): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body, type }) => {
          res.writeHead(status, { "content-type": type });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(err.message);
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    return `http://127.0.0.1:${port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Notifications for one alert name and status, in arrival order. */
  deliveries(
    alertname: string,
    status: "firing" | "resolved",
  ): { at: number; labels: Record<string, string> }[] {
    return this.received.flatMap(({ at, notification }) =>
      notification.alerts
        .filter((a) => a.labels.alertname === alertname && a.status === status)
        .map((a) => ({ at, labels: a.labels })),
    );
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: string; type: string }> {
    const body = await new Promise<string>((resolve) => {
      let data = "";
      req.on("data", (chunk) => (data += chunk));
      req.on("end", () => resolve(data));
    });
    if (req.method === "POST" && req.url === "/alerts") {
      const notification = JSON.parse(body) as WebhookNotification;
      this.received.push({ at: Date.now(), notification });
      appendFileSync(
        this.logFile,
        JSON.stringify({ received_at: new Date().toISOString(), ...notification }) + "\n",
      );
      return { status: 200, body: "ok", type: "text/plain" };
    }
    if (req.method === "POST" && req.url === "/analyses") {
      const analysis = JSON.parse(body) as AnalysisDelivery;
      this.analyses.push({ at: Date.now(), analysis });
      appendFileSync(
        this.logFile,
        JSON.stringify({ received_at: new Date().toISOString(), ...analysis }) + "\n",
      );
      return { status: 200, body: "ok", type: "text/plain" };
    }
    if (req.method === "GET" && req.url === "/metrics") {
      const labels = `namespace="${this.hpa.namespace}",horizontalpodautoscaler="${this.hpa.name}"`;
      const current = this.hpa.current();
      const gauge = (name: string, help: string, value: number) =>
        `# HELP ${name} ${help} (SIMULATED by the sandbox)\n# TYPE ${name} gauge\n${name}{${labels}} ${value}\n`;
      return {
        status: 200,
        type: "text/plain; version=0.0.4",
        body:
          gauge("kube_horizontalpodautoscaler_status_current_replicas", "Current replicas", current) +
          gauge("kube_horizontalpodautoscaler_status_desired_replicas", "Desired replicas", current) +
          gauge("kube_horizontalpodautoscaler_spec_min_replicas", "Minimum replicas", this.hpa.min) +
          gauge("kube_horizontalpodautoscaler_spec_max_replicas", "Maximum replicas", this.hpa.max),
      };
    }
    const control = /^\/control\/([a-z]+)\/(\w+)$/.exec(req.url ?? "");
    if (req.method === "POST" && control && this.handlers.control) {
      return { status: 200, body: await this.handlers.control(control[1], control[2]), type: "text/plain" };
    }
    return { status: 404, body: "not found", type: "text/plain" };
  }
}
