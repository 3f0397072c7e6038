/**
 * HTTP API for backends in other languages, cluster-wide when clustered.
 * Bearer-token protected (STOMP_API_TOKEN / apiToken); off when no token is set.
 *
 *   POST   /api/users/:name/messages   {destination, body, headers?}  -> sendToUser
 *   POST   /api/topics/*               {body, headers?}               -> publish to /topic/*
 *   GET    /api/users/:name                                           -> online? sessions and nodes
 *   DELETE /api/users/:name/sessions                                  -> kick everywhere
 *   GET    /api/cluster                                               -> nodes and liveness
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { BrokerOps, BrokerView } from '../broker/view.js';
import { ErrorCode, StompError } from '../errors.js';
import { bearerMatches } from './bearer.js';

/** HTTP status for a coded broker error. */
function httpStatus(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.FORBIDDEN:
      return 403;
    case ErrorCode.SENDER_QUOTA:
      return 429;
    case ErrorCode.MEMORY_BUDGET:
      return 503;
    default:
      return 400;
  }
}

const headersSchema = { type: 'object', additionalProperties: { type: 'string' } } as const;

const userMessageSchema = {
  params: { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] },
  body: {
    type: 'object',
    required: ['destination', 'body'],
    properties: { destination: { type: 'string', pattern: '^/' }, body: {}, headers: headersSchema },
    additionalProperties: false,
  },
} as const;

const topicMessageSchema = {
  body: {
    type: 'object',
    required: ['body'],
    properties: { body: {}, headers: headersSchema },
    additionalProperties: false,
  },
} as const;

interface UserMessageBody {
  destination: string;
  body: unknown;
  headers?: Record<string, string>;
}

function tokenCheck(token: string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!bearerMatches(req.headers.authorization, token)) await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
  };
}

export interface ApiOptions {
  /** Bearer token; null = the API is off. */
  token: string | null;
  /** Where POST /api/topics/<name> publishes: this prefix + /<name>. */
  topicPrefix: string;
  log: Logger;
}

export function registerApi(app: FastifyInstance, broker: BrokerView & BrokerOps, opts: ApiOptions): void {
  const { token, topicPrefix, log } = opts;
  if (!token) {
    log.info('HTTP API off (set STOMP_API_TOKEN to enable it)');
    return;
  }
  void app.register(
    async (api) => {
      api.addHook('onRequest', tokenCheck(token));
      api.setErrorHandler(async (err, _req, reply) => {
        // A coded broker error is the caller's mistake or a refusal, never a 500.
        if (err instanceof StompError) return reply.code(httpStatus(err.code)).send({ error: err.code, message: err.detail });
        throw err;
      });

      api.post<{ Params: { name: string }; Body: UserMessageBody }>('/users/:name/messages', { schema: userMessageSchema }, async (req, reply) => {
        const { destination, body, headers } = req.body;
        await broker.sendToUser(req.params.name, destination, body, headers ?? {});
        return reply.code(202).send({ accepted: true, user: req.params.name, destination });
      });

      api.post<{ Params: { '*': string }; Body: { body: unknown; headers?: Record<string, string> } }>(
        '/topics/*',
        { schema: topicMessageSchema },
        async (req, reply) => {
          const rest = req.params['*'];
          if (!rest) return reply.code(400).send({ error: 'topic name required' });
          const destination = `${topicPrefix}/${rest}`;
          await broker.publish(destination, req.body.body, req.body.headers ?? {});
          return reply.code(202).send({ accepted: true, destination });
        },
      );

      api.get<{ Params: { name: string } }>('/users/:name', async (req) => {
        const p = await broker.presence(req.params.name);
        return {
          user: req.params.name,
          online: p.sessions.length > 0,
          sessions: p.sessions.map((s) => ({ sessionId: s.sessionId, node: s.nodeId, connectedAt: new Date(s.connectedAt).toISOString() })),
          nodes: p.nodes,
          inbox: p.inbox,
        };
      });

      api.delete<{ Params: { name: string } }>('/users/:name/sessions', async (req) => {
        const { nodes } = await broker.presence(req.params.name);
        const closedHere = await broker.kick(req.params.name);
        return { user: req.params.name, closedHere, nodes };
      });

      api.get('/cluster', async () => {
        const nodes = await broker.nodes();
        const s = broker.snapshot();
        return {
          self: broker.nodeId,
          clustered: broker.clustered,
          nodes: nodes.map((n) => ({ node: n.nodeId, alive: n.alive, lastSeen: new Date(n.lastSeen).toISOString(), meta: n.meta })),
          stats: {
            node: broker.nodeId,
            sessions: s.sessions,
            users: s.users,
            subscriptions: s.subscriptions,
            framesIn: s.framesIn,
            framesOut: s.framesOut,
            deliveredLocal: s.dispatch.deliveredLocal,
            topicDeliveries: s.topicDeliveries,
            forwarded: s.dispatch.forwarded,
            sentRemote: s.dispatch.sentRemote,
            inboxed: s.dispatch.inboxed,
            replayed: s.dispatch.replayed,
          },
        };
      });
    },
    { prefix: '/api' },
  );
}
