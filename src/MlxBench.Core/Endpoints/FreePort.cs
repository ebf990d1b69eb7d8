using System.Net;
using System.Net.Sockets;

namespace MlxBench.Core.Endpoints;

/// <summary>A loopback port nothing listens on right now. Another process could take it before the server binds, so
/// callers retry a start whose server exits early.</summary>
public static class FreePort
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
