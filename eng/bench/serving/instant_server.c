/*
 * instant_server: an OpenAI-compatible server that answers at once, for measuring a benchmark client's ceiling.
 *
 * One thread, epoll, HTTP/1.1 keep-alive (and pipelining). Each response -- headers, every SSE event as its own
 * chunk, the usage chunk, [DONE] and the final chunk -- is built in one buffer and sent with one write(), so the
 * server costs one syscall per request and is never the limit (wrk measures its ceiling).
 *
 * It stamps CLOCK_MONOTONIC (the clock .NET's Stopwatch reads on Linux) just before that write, keyed by the
 * x-request-id "mlxbench-<level>-<index>" the harness sends; GET /stamps/<level> returns "<index> <ns>" lines, so
 * the client's first-event stamp minus this one is the client's TTFT bias.
 *
 * Routes: GET /v1/models, POST /tokenize (a fixed pool of ids), POST /v1/completions, POST /v1/chat/completions
 * (max_tokens tokens, "stream": true or false), GET /stamps/<level>. Listens on 127.0.0.1 only.
 * Build: cc -O2 -o instant_server instant_server.c    Run: instant_server <port>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LEVELS 8
#define MAX_REQUESTS (1 << 20)
#define IN_CAP (1 << 16)
#define OUT_CAP (1 << 20)

typedef struct conn {
    int fd;
    size_t in_len;
    char in[IN_CAP];
} conn;

static int64_t *stamps[MAX_LEVELS];     /* (level, index) -> ns of the first byte written */
static char out[OUT_CAP];               /* one response (or the /stamps dump) at a time: single-threaded */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The value after "key": in a JSON body, as an integer; def when absent. */
static long json_int(const char *body, size_t len, const char *key, long def) {
    const char *p = memmem(body, len, key, strlen(key));
    if (!p) return def;
    p += strlen(key);
    while (*p == '"' || *p == ':' || *p == ' ') p++;
    return strtol(p, NULL, 10);
}

static int json_true(const char *body, size_t len, const char *key) {
    const char *p = memmem(body, len, key, strlen(key));
    if (!p) return 0;
    p += strlen(key);
    while (*p == '"' || *p == ':' || *p == ' ') p++;
    return strncmp(p, "true", 4) == 0;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { usleep(50); continue; }   /* a slow reader: rare, and only here */
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Appends one chunk of chunked transfer encoding holding an SSE "data: ...\n\n" event. */
static size_t sse_chunk(char *dst, const char *data, size_t data_len) {
    size_t payload = data_len + 8;  /* "data: " + "\n\n" */
    int h = sprintf(dst, "%zx\r\ndata: ", payload);
    memcpy(dst + h, data, data_len);
    memcpy(dst + h + data_len, "\n\n\r\n", 4);
    return (size_t)h + data_len + 4;
}

/* The value of header `name` (lower case) in a request head, matched case-insensitively; NULL when absent. */
static const char *header(const char *head, size_t head_len, const char *name) {
    size_t n = strlen(name);
    for (const char *line = head; line && line + n + 1 < head + head_len;) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ') v++;
            return v;
        }
        line = memmem(line, (size_t)(head + head_len - line), "\r\n", 2);
        if (line) line += 2;
    }
    return NULL;
}

static void record_stamp(const char *head, size_t head_len, int64_t t) {
    const char *p = header(head, head_len, "x-request-id");
    if (!p || strncmp(p, "mlxbench-", 9) != 0) return;
    p += 9;
    if (*p < '0' || *p > '9') return;      /* warm-up and test requests */
    long level = strtol(p, (char **)&p, 10);
    if (*p != '-') return;
    long index = strtol(p + 1, NULL, 10);
    if (level >= 0 && level < MAX_LEVELS && index >= 0 && index < MAX_REQUESTS) stamps[level][index] = t;
}

static void respond_completion(int fd, const char *head, size_t head_len, const char *body, size_t body_len, int chat) {
    long tokens = json_int(body, body_len, "\"max_tokens\"", 16);
    if (tokens < 1) tokens = 1;
    int stream = json_true(body, body_len, "\"stream\"");
    size_t n = 0;
    char event[512];
    if (stream) {
        n += (size_t)sprintf(out + n, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (long i = 0; i < tokens && n + 1024 < OUT_CAP; i++) {
            int len = chat
                ? sprintf(event, "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" t%ld\"},\"finish_reason\":null}]}", i)
                : sprintf(event, "{\"id\":\"c\",\"object\":\"text_completion\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" t%ld\",\"logprobs\":null,\"finish_reason\":null}]}", i);
            n += sse_chunk(out + n, event, (size_t)len);
        }
        int len = sprintf(event, "{\"id\":\"c\",\"object\":\"text_completion\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":%ld,\"total_tokens\":%ld}}", tokens, tokens + 16);
        n += sse_chunk(out + n, event, (size_t)len);
        n += sse_chunk(out + n, "[DONE]", 6);
        memcpy(out + n, "0\r\n\r\n", 5);
        n += 5;
    } else {
        char text[8192];
        size_t t = 0;
        for (long i = 0; i < tokens && t + 16 < sizeof text; i++) t += (size_t)sprintf(text + t, " t%ld", i);
        int len = chat
            ? sprintf(event, "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"")
            : sprintf(event, "{\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"");
        char tail[256];
        int tail_len = sprintf(tail, chat ? "\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":%ld,\"total_tokens\":%ld}}"
                                          : "\",\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":%ld,\"total_tokens\":%ld}}", tokens, tokens + 16);
        n += (size_t)sprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", (size_t)len + t + (size_t)tail_len);
        memcpy(out + n, event, (size_t)len); n += (size_t)len;
        memcpy(out + n, text, t); n += t;
        memcpy(out + n, tail, (size_t)tail_len); n += (size_t)tail_len;
    }
    record_stamp(head, head_len, now_ns());
    write_all(fd, out, n);
}

static void respond_text(int fd, const char *type, const char *text, size_t len) {
    char head[256];
    int h = sprintf(head, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", type, len);
    write_all(fd, head, (size_t)h);
    write_all(fd, text, len);
}

static void respond_stamps(int fd, long level) {
    size_t cap = 64, n = 0;
    char *text = malloc(cap);
    if (level >= 0 && level < MAX_LEVELS)
        for (long i = 0; i < MAX_REQUESTS; i++) {
            if (!stamps[level][i]) continue;
            if (n + 48 > cap) text = realloc(text, cap *= 2);
            n += (size_t)sprintf(text + n, "%ld %lld\n", i, (long long)stamps[level][i]);
        }
    respond_text(fd, "text/plain", text, n);
    free(text);
}

/* Handles every complete request in the connection's buffer; returns 0 to keep the connection, -1 to close it. */
static int serve(conn *c) {
    size_t used = 0;
    for (;;) {
        char *start = c->in + used;
        size_t avail = c->in_len - used;
        char *end = memmem(start, avail, "\r\n\r\n", 4);
        if (!end) break;
        size_t head_len = (size_t)(end - start) + 4;
        long body_len = 0;
        const char *cl = header(start, head_len, "content-length");
        if (cl) body_len = strtol(cl, NULL, 10);
        if (avail < head_len + (size_t)body_len) break;
        const char *body = start + head_len;
        if (!strncmp(start, "POST /v1/completions ", 21)) respond_completion(c->fd, start, head_len, body, (size_t)body_len, 0);
        else if (!strncmp(start, "POST /v1/chat/completions ", 26)) respond_completion(c->fd, start, head_len, body, (size_t)body_len, 1);
        else if (!strncmp(start, "GET /v1/models ", 15)) {
            const char *m = "{\"object\":\"list\",\"data\":[{\"id\":\"instant\",\"object\":\"model\"}]}";
            respond_text(c->fd, "application/json", m, strlen(m));
        } else if (!strncmp(start, "POST /tokenize ", 15)) {
            char tok[4096];
            size_t t = (size_t)sprintf(tok, "{\"count\":300,\"tokens\":[");
            for (int i = 0; i < 300; i++) t += (size_t)sprintf(tok + t, i ? ",%d" : "%d", 100 + i);
            t += (size_t)sprintf(tok + t, "]}");
            respond_text(c->fd, "application/json", tok, t);
        } else if (!strncmp(start, "GET /stamps/", 12)) respond_stamps(c->fd, strtol(start + 12, NULL, 10));
        else {
            const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            write_all(c->fd, nf, strlen(nf));
        }
        used += head_len + (size_t)body_len;
    }
    if (used > 0) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    return c->in_len == IN_CAP ? -1 : 0;    /* a request larger than the buffer: give up on the connection */
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 18090;
    signal(SIGPIPE, SIG_IGN);
    for (int l = 0; l < MAX_LEVELS; l++) stamps[l] = calloc(MAX_REQUESTS, sizeof(int64_t));
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) { perror("bind/listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    fprintf(stderr, "instant_server: listening on 127.0.0.1:%d\n", port);
    struct epoll_event events[256];
    for (;;) {
        int ready = epoll_wait(ep, events, 256, -1);
        for (int e = 0; e < ready; e++) {
            conn *c = events[e].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = malloc(sizeof *nc);
                    nc->fd = fd;
                    nc->in_len = 0;
                    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = nc };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t n;
            int closed = 0;
            while ((n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len)) > 0) {
                c->in_len += (size_t)n;
                if (serve(c) < 0) { closed = 1; break; }
            }
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || closed) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
            }
        }
    }
}
