#!/usr/bin/env python3
"""Lists the package-level dependency edges among the packages under a Java source root and
reports dependency cycles (strongly connected groups of packages). Edges come from imports and
from fully-qualified names in code (comments and string literals ignored).

Usage: python3 .ci/package-cycles.py harness-spark/src/main/java [io.dataharness.spark]
Exits 1 if there is a cycle, 0 otherwise.
"""
import os,re,sys,collections
root=sys.argv[1]; base=sys.argv[2] if len(sys.argv)>2 else 'io.dataharness.spark'
edges=collections.defaultdict(lambda: collections.defaultdict(set))
classes={}
for d,_,fs in os.walk(root):
  for f in fs:
    if not f.endswith('.java'): continue
    p=os.path.join(d,f); src=open(p).read()
    m=re.search(r'^package\s+([\w.]+);',src,re.M); pkg=m.group(1)
    classes[(pkg,f[:-5])]=src
pkgs={p for p,_ in classes}
bypkg=collections.defaultdict(set)
for p,c in classes: bypkg[p].add(c)
for (pkg,cls),src in classes.items():
  for m in re.finditer(r'^import\s+(?:static\s+)?('+re.escape(base)+r'[\w.]*)\.(\w+|\*);',src,re.M):
    q=m.group(1)
    # find the package: longest prefix that is a package
    parts=q.split('.')
    while '.'.join(parts) not in pkgs and len(parts)>3: parts=parts[:-1]
    tp='.'.join(parts)
    if tp!=pkg: edges[pkg][tp].add(cls)
  # fully-qualified references in code (comments and string literals stripped)
  code=re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"','',src,flags=re.S)
  for m in re.finditer(r'\b('+re.escape(base)+r'(?:\.[a-z]\w*)*)\.[A-Z]\w*',code):
    tp=m.group(1)
    if tp in pkgs and tp!=pkg and not re.search(r'^(package|import)',code[code.rfind('\n',0,m.start())+1:m.start()]): edges[pkg][tp].add(cls)
short=lambda p: p[len(base):].lstrip('.') or '(root)'
print('Package edges:')
for a in sorted(edges):
  for b in sorted(edges[a]): print(f'  {short(a)} -> {short(b)}  [{", ".join(sorted(edges[a][b]))}]')
# SCCs (Tarjan)
idx={};low={};st=[];on=set();sccs=[];i=[0]
def sc(v):
  idx[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
  for w in edges.get(v,{}):
    if w not in idx: sc(w);low[v]=min(low[v],low[w])
    elif w in on: low[v]=min(low[v],idx[w])
  if low[v]==idx[v]:
    c=[]
    while True:
      w=st.pop();on.discard(w);c.append(w)
      if w==v:break
    sccs.append(c)
sys.setrecursionlimit(10000)
for v in sorted(pkgs):
  if v not in idx: sc(v)
cyc=[c for c in sccs if len(c)>1]
print('Cycles (strongly connected package groups):' if cyc else 'No package cycles.')
for c in cyc: print('  {'+', '.join(sorted(short(x) for x in c))+'}')
sys.exit(1 if cyc else 0)
