// Who is signed in: restores the session from its refresh token at load, loads `/me` (the user and
// their orgs), and drops to the login page when the session ends.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";
import { adopt, hasSession, login as loginRequest, logout as logoutRequest, onSignedOut, refresh } from "./session";

type Me = Schemas["Me"];

interface AuthValue {
  status: "loading" | "anonymous" | "signed-in";
  me: Me | null;
  notice: string | null;
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  reloadMe: () => Promise<void>;
  /** Signs in with a pair the server handed out (a new user's first tokens). */
  adoptSession: (pair: Schemas["TokenPair"]) => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<AuthValue["status"]>(hasSession() ? "loading" : "anonymous");
  const [me, setMe] = useState<Me | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const reloadMe = useCallback(async () => {
    const loaded = unwrap(await api.GET("/api/v1/me"));
    setMe(loaded);
    setStatus("signed-in");
  }, []);

  useEffect(() => {
    const off = onSignedOut((reason) => {
      setMe(null);
      setStatus("anonymous");
      setNotice(reason);
      queryClient.clear();
    });
    if (hasSession()) {
      refresh()
        .then((token) => (token ? reloadMe() : setStatus("anonymous")))
        .catch(() => setStatus("anonymous"));
    }
    return () => {
      off();
    };
  }, [queryClient, reloadMe]);

  const login = useCallback(
    async (email: string, password: string) => {
      await loginRequest(email, password);
      setNotice(null);
      await reloadMe();
    },
    [reloadMe],
  );

  const logout = useCallback(async () => {
    await logoutRequest();
    queryClient.clear();
    setMe(null);
    setStatus("anonymous");
  }, [queryClient]);

  const adoptSession = useCallback(
    async (pair: Schemas["TokenPair"]) => {
      adopt(pair);
      setNotice(null);
      await reloadMe();
    },
    [reloadMe],
  );

  return (
    <AuthContext.Provider value={{ status, me, notice, login, logout, reloadMe, adoptSession }}>
      {children}
    </AuthContext.Provider>
  );
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth needs an <AuthProvider>");
  return value;
}
